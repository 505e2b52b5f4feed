-- What the vision stage found in each capture: people per seat row, the detections behind the
-- counts and the models that made them. Written in the capture's own transaction.

CREATE TABLE capture_occupancy (
    capture_id    INTEGER PRIMARY KEY REFERENCES captures (id) ON DELETE CASCADE,
    people        INTEGER NOT NULL CHECK (people >= 0),
    countability  REAL    NOT NULL CHECK (countability BETWEEN 0 AND 1),
    needs_review  INTEGER NOT NULL CHECK (needs_review IN (0, 1)),
    faces_blurred INTEGER NOT NULL CHECK (faces_blurred >= 0),
    -- 1 when the images were kept raw (evidence mode): faces are NOT anonymized.
    evidence_raw  INTEGER NOT NULL CHECK (evidence_raw IN (0, 1))
) STRICT;

CREATE INDEX capture_occupancy_for_review ON capture_occupancy (needs_review)
    WHERE needs_review = 1;

CREATE TABLE occupancy_rows (
    capture_id INTEGER NOT NULL REFERENCES captures (id) ON DELETE CASCADE,
    seat_row   TEXT    NOT NULL CHECK (seat_row IN ('front', 'rear', 'third')),
    people     INTEGER NOT NULL CHECK (people >= 0),
    confidence REAL    NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    PRIMARY KEY (capture_id, seat_row)
) STRICT;

-- Boxes in frame pixels; seat_row is NULL for a person outside every row zone.
CREATE TABLE person_detections (
    capture_id  INTEGER NOT NULL REFERENCES captures (id) ON DELETE CASCADE,
    burst_index INTEGER NOT NULL CHECK (burst_index >= 0),
    seat_row    TEXT    CHECK (seat_row IN ('front', 'rear', 'third')),
    x1_px       REAL    NOT NULL,
    y1_px       REAL    NOT NULL,
    x2_px       REAL    NOT NULL,
    y2_px       REAL    NOT NULL,
    score       REAL    NOT NULL
) STRICT;

CREATE INDEX person_detections_by_capture ON person_detections (capture_id);

CREATE TABLE capture_models (
    capture_id INTEGER NOT NULL REFERENCES captures (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    sha256     TEXT    NOT NULL CHECK (length(sha256) = 64),
    PRIMARY KEY (capture_id, name)
) STRICT;
