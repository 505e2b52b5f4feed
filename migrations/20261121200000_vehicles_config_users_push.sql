-- Vehicles as the detector reported them: a row when the front crosses the scan plane, its
-- measurements when the rear leaves it. Columns the detector does not measure stay NULL.
CREATE TABLE vehicles (
    -- The detector's UUIDv7, as text; sorts by time.
    id             TEXT    PRIMARY KEY,
    lane           TEXT    NOT NULL,
    entered_at_ms  INTEGER NOT NULL,
    left_at_ms     INTEGER,
    occupancy_ms   INTEGER CHECK (occupancy_ms >= 0),
    class          TEXT,
    max_height_mm  INTEGER CHECK (max_height_mm >= 0),
    max_width_mm   INTEGER CHECK (max_width_mm >= 0),
    speed_kmh      REAL,
    length_mm      INTEGER CHECK (length_mm >= 0)
) STRICT;

-- Retention by age.
CREATE INDEX vehicles_entered ON vehicles (entered_at_ms);
-- The capture link: captures.vehicle_id names the vehicle they show.
CREATE INDEX captures_by_vehicle ON captures (vehicle_id);

-- Every configuration the box ran with: a row at start and at each reload whose text differs
-- from the last one.
CREATE TABLE config_history (
    id            INTEGER PRIMARY KEY,
    applied_at_ms INTEGER NOT NULL,
    -- Lower-case hex of the SHA-256 of `toml`.
    sha256        TEXT    NOT NULL CHECK (length(sha256) = 64),
    toml          TEXT    NOT NULL,
    source        TEXT    NOT NULL CHECK (source IN ('start', 'reload'))
) STRICT;

-- People who may sign in to the web page.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    -- Argon2id in the PHC string format (salt and parameters included).
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('technician', 'admin')),
    created_at_ms INTEGER NOT NULL
) STRICT;

-- Where events are pushed over HTTP, one row per client.
CREATE TABLE push_endpoints (
    id              INTEGER PRIMARY KEY,
    client          TEXT    NOT NULL UNIQUE,
    url             TEXT    NOT NULL,
    -- Signs each push when set.
    secret          TEXT,
    rate_per_minute INTEGER NOT NULL CHECK (rate_per_minute >= 1),
    enabled         INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    created_at_ms   INTEGER NOT NULL
) STRICT;
