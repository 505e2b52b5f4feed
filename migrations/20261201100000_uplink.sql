-- Push endpoints get the events they want, and what their failures did; every delivery attempt
-- is kept, for the endpoint's history and for a replay.
ALTER TABLE push_endpoints ADD COLUMN events TEXT NOT NULL DEFAULT '["capture.stored"]'
    CHECK (json_valid(events));
-- Set at the first failed delivery after a success; an endpoint failing for too long is
-- disabled, with the reason.
ALTER TABLE push_endpoints ADD COLUMN failing_since_ms INTEGER;
ALTER TABLE push_endpoints ADD COLUMN disabled_reason TEXT;

CREATE TABLE push_deliveries (
    id               INTEGER PRIMARY KEY,
    endpoint_id      INTEGER NOT NULL REFERENCES push_endpoints (id) ON DELETE CASCADE,
    capture_id       INTEGER REFERENCES captures (id) ON DELETE SET NULL,
    -- The Standard Webhooks message id: the same for every attempt and every endpoint.
    webhook_id       TEXT    NOT NULL,
    event            TEXT    NOT NULL,
    attempt          INTEGER NOT NULL CHECK (attempt >= 1),
    at_ms            INTEGER NOT NULL,
    -- The HTTP status; NULL when no answer came (timeout, connection refused).
    status           INTEGER,
    latency_ms       INTEGER NOT NULL CHECK (latency_ms >= 0),
    error            TEXT,
    -- The start of the answer's body, for the history.
    response_excerpt TEXT
) STRICT;

CREATE INDEX push_deliveries_by_endpoint ON push_deliveries (endpoint_id, id);
-- Retention of the history by age.
CREATE INDEX push_deliveries_by_time ON push_deliveries (at_ms);
