-- Captures stored without their images, and image rows whose file has vanished.

-- Images the camera delivered that could not be written (disk full or failing): the capture
-- is kept as metadata only, with status 'no_image'.
ALTER TABLE captures ADD COLUMN images_dropped INTEGER NOT NULL DEFAULT 0
    CHECK (images_dropped >= 0);

-- Set by the start-up file check when the file of this row was not found.
ALTER TABLE capture_images ADD COLUMN missing_since_ms INTEGER;
