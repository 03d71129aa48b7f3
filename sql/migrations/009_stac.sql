-- Issue 16: the STAC API's items are ready maps with a bbox. Shared items are walked one
-- visibility at a time, newest first, so a guest's page (public only) or a member's (public,
-- members) reads about limit+1 index entries whatever the share of private maps.
CREATE INDEX IF NOT EXISTS maps_stac_shared ON app.maps (visibility, created_at DESC, id DESC)
    WHERE status = 'ready' AND bbox IS NOT NULL;
-- A bbox search that few maps match collects them from these instead (api.stac_search probes
-- which way is cheaper): per visibility, so a guest's probe counts only what a guest may see.
CREATE INDEX IF NOT EXISTS maps_stac_bbox_public ON app.maps USING gist (bbox)
    WHERE status = 'ready' AND bbox IS NOT NULL AND visibility = 'public';
CREATE INDEX IF NOT EXISTS maps_stac_bbox_members ON app.maps USING gist (bbox)
    WHERE status = 'ready' AND bbox IS NOT NULL AND visibility = 'members';
