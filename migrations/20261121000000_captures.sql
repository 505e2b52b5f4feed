-- Captures and their image files.
--
-- Times are INTEGER milliseconds since the Unix epoch, UTC (columns end in _at_ms): they sort and
-- compare as numbers and need no parsing. Image paths are relative to data_dir/images and use '/'.

-- One vehicle seen by one camera. `uuid` names the capture's image files, so that files written
-- by a transaction that never committed (a crash) can never collide with a later capture.
CREATE TABLE captures (
    id             INTEGER PRIMARY KEY,
    uuid           TEXT    NOT NULL UNIQUE,
    vehicle_id     TEXT    NOT NULL,
    lane           TEXT    NOT NULL,
    camera         TEXT    NOT NULL,
    detected_at_ms INTEGER NOT NULL,
    stored_at_ms   INTEGER NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('ok', 'no_image')),
    image_count    INTEGER NOT NULL CHECK (image_count >= 0),
    CHECK ((status = 'no_image') = (image_count = 0))
) STRICT;

-- Recent captures, newest first (the index carries the rowid, which breaks ties).
CREATE INDEX captures_by_detected_at ON captures (detected_at_ms);

CREATE TABLE capture_images (
    capture_id     INTEGER NOT NULL REFERENCES captures (id) ON DELETE CASCADE,
    burst_index    INTEGER NOT NULL CHECK (burst_index >= 0),
    captured_at_ms INTEGER NOT NULL,
    width          INTEGER NOT NULL CHECK (width >= 0),
    height         INTEGER NOT NULL CHECK (height >= 0),
    byte_len       INTEGER NOT NULL CHECK (byte_len >= 0),
    sha256         TEXT    NOT NULL CHECK (length(sha256) = 64),
    relative_path  TEXT    NOT NULL UNIQUE,
    PRIMARY KEY (capture_id, burst_index)
) STRICT;
