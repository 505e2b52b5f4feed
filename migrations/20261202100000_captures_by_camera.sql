-- A camera's newest capture, for the cameras page, without scanning the captures of the others.
CREATE INDEX captures_by_camera ON captures (camera, id);
