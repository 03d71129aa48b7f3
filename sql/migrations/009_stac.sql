-- Issue 16: the STAC API's items are ready maps with a bbox. Shared items are walked one
-- visibility at a time, newest first, so a guest's page (public only) or a member's (public,
-- members) reads about limit+1 index entries whatever the share of private maps.
CREATE INDEX IF NOT EXISTS maps_stac_shared ON app.maps (visibility, created_at DESC, id DESC)
    WHERE status = 'ready' AND bbox IS NOT NULL;
