-- The durable job queue: jobs (uploads, pushes, retention sweeps) and each attempt to run them.
--
-- A job is `available` from run_at_ms on (a retry waits there too, with a later run_at_ms),
-- `running` while a runner holds it, and ends `completed`, `discarded` (failed too often, or
-- refused by its handler) or `cancelled`. Ended jobs stay for inspection until the history
-- retention removes them.
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY,
    queue           TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    -- Opaque to the store; the handler of `kind` decodes it (JSON by convention).
    args            TEXT    NOT NULL,
    state           TEXT    NOT NULL
                    CHECK (state IN ('available', 'running', 'completed', 'discarded', 'cancelled')),
    attempt         INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts    INTEGER NOT NULL CHECK (max_attempts >= 1),
    -- At most one job with a given key is waiting or running in a queue at a time.
    unique_key      TEXT,
    -- Handed to the handler so that a job run twice (at-least-once) has the same effect once.
    idempotency_key TEXT    NOT NULL UNIQUE,
    -- The capture the job works on; its retention keeps the capture while the job is pending.
    capture_id      INTEGER REFERENCES captures (id) ON DELETE SET NULL,
    inserted_at_ms  INTEGER NOT NULL,
    run_at_ms       INTEGER NOT NULL,
    attempted_at_ms INTEGER,
    finished_at_ms  INTEGER,
    last_error      TEXT
) STRICT;

-- The runner's fetch: due jobs of one queue, oldest first.
CREATE INDEX jobs_due ON jobs (queue, state, run_at_ms);
CREATE UNIQUE INDEX jobs_unique_active ON jobs (queue, unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'running');
CREATE INDEX jobs_by_capture ON jobs (capture_id) WHERE capture_id IS NOT NULL;
-- History retention: ended jobs by the time they ended.
CREATE INDEX jobs_finished ON jobs (finished_at_ms) WHERE finished_at_ms IS NOT NULL;

CREATE TABLE job_attempts (
    job_id         INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt        INTEGER NOT NULL CHECK (attempt >= 1),
    started_at_ms  INTEGER NOT NULL,
    finished_at_ms INTEGER,
    -- NULL while running; 'interrupted' when the process stopped or crashed during the attempt.
    outcome        TEXT CHECK (outcome IN ('completed', 'failed', 'discarded', 'interrupted')),
    error          TEXT,
    PRIMARY KEY (job_id, attempt)
) STRICT;
