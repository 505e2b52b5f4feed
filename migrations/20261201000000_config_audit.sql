-- The config history becomes the audit of every change through the live configuration handle:
-- who asked (actor), through what (source), whether it applied, the key paths it changed, the
-- ones waiting for a restart, and why a refused one was refused. SQLite cannot change a CHECK,
-- so the table is rebuilt; the rows recorded before keep their text, as changes that applied:
-- 'start' was the file read at start ('file'), 'reload' a SIGHUP or a bus reload ('sighup').
CREATE TABLE config_history_audit (
    id             INTEGER PRIMARY KEY,
    at_ms          INTEGER NOT NULL,
    -- Lower-case hex of the SHA-256 of `toml`.
    sha256         TEXT    NOT NULL CHECK (length(sha256) = 64),
    -- The text applied, or the one refused. Secrets are kept: a rollback restores them.
    toml           TEXT    NOT NULL,
    source         TEXT    NOT NULL
                   CHECK (source IN ('file', 'sighup', 'bus', 'web', 'rollback')),
    actor          TEXT    NOT NULL,
    outcome        TEXT    NOT NULL CHECK (outcome IN ('applied', 'refused')),
    -- JSON arrays of key paths such as "lanes[0].lateral_to_mm".
    changed        TEXT    NOT NULL CHECK (json_valid(changed)),
    restart_needed TEXT    NOT NULL CHECK (json_valid(restart_needed)),
    error          TEXT,
    CHECK ((outcome = 'refused') = (error IS NOT NULL))
) STRICT;

INSERT INTO config_history_audit
    (id, at_ms, sha256, toml, source, actor, outcome, changed, restart_needed, error)
SELECT id, applied_at_ms, sha256, toml,
       CASE source WHEN 'start' THEN 'file' ELSE 'sighup' END,
       'vod', 'applied', '[]', '[]', NULL
FROM config_history;

DROP TABLE config_history;
ALTER TABLE config_history_audit RENAME TO config_history;

-- The last applied text, which the start compares the file with.
CREATE INDEX config_history_applied ON config_history (id) WHERE outcome = 'applied';
