-- A test capture: taken because a person asked (the web page's test button, the bus), not for a
-- vehicle. It is stored and shown like any other, and never uploaded or pushed.
ALTER TABLE captures ADD COLUMN test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1));
