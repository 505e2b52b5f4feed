-- Why a count is not certain: the vision stage's doubts, space-separated (`kind` or
-- `kind:row`, as vod_core::Doubt writes them); empty when nothing was in doubt.
ALTER TABLE capture_occupancy ADD COLUMN doubts TEXT NOT NULL DEFAULT '';
