-- Who may use the web page and its API: users get a third role (viewer: looks only), machine
-- clients get API tokens, and a technician's review of a capture is kept with who and when.

-- SQLite cannot change a CHECK constraint in place: the table is rebuilt with its rows.
CREATE TABLE users_with_viewers (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    -- Argon2id in the PHC string format (salt and parameters included).
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('viewer', 'technician', 'admin')),
    created_at_ms INTEGER NOT NULL
) STRICT;
INSERT INTO users_with_viewers (id, name, password_hash, role, created_at_ms)
    SELECT id, name, password_hash, role, created_at_ms FROM users;
DROP TABLE users;
ALTER TABLE users_with_viewers RENAME TO users;

-- Bearer tokens for scripts and scrapers. Only the token's SHA-256 is kept: the token itself
-- is shown once, when it is made.
CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    token_sha256  TEXT    NOT NULL UNIQUE CHECK (length(token_sha256) = 64),
    role          TEXT    NOT NULL CHECK (role IN ('viewer', 'technician', 'admin')),
    created_by    TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
) STRICT;

-- A person's count of one seat row of a capture, confirming or correcting the box's.
CREATE TABLE capture_reviews (
    capture_id     INTEGER NOT NULL REFERENCES captures (id) ON DELETE CASCADE,
    seat_row       TEXT    NOT NULL CHECK (seat_row IN ('front', 'rear', 'third')),
    people         INTEGER NOT NULL CHECK (people >= 0),
    reviewer       TEXT    NOT NULL,
    reviewed_at_ms INTEGER NOT NULL,
    PRIMARY KEY (capture_id, seat_row)
) STRICT;
