-- STAC collection extents are computed, not placeholders: each collection's union bbox and
-- time interval over the items the caller may see (api.stac_extents). At a million maps that
-- must not read every item: each bound is the first entry of one of these indexes, per
-- (format, visibility), which min()/max() read as a one-row index scan. The longitude bounds
-- come twice: in the frame cut at the antimeridian (bboxes across it are stored unwrapped,
-- east past 180: app.bbox_of) and in the frame cut at Greenwich (west in 0..360), so that a
-- collection of Pacific maps gets a narrow extent across the antimeridian rather than the
-- whole world. The box's corners: [1] is the low (south-west), [0] the high one.
CREATE FUNCTION app.west_0_360(b box) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN (b[1])[0] < 0 THEN (b[1])[0] + 360 ELSE (b[1])[0] END
$$;
CREATE FUNCTION app.east_0_360(b box) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT app.west_0_360(b) + ((b[0])[0] - (b[1])[0])
$$;
COMMENT ON FUNCTION app.west_0_360(box) IS 'A box''s west edge in the 0..360 frame (cut at Greenwich).';
COMMENT ON FUNCTION app.east_0_360(box) IS 'A box''s east edge in the 0..360 frame: past 360 when the box crosses Greenwich.';
CREATE INDEX maps_stac_west ON app.maps (format, visibility, ((bbox[1])[0]))
    WHERE status = 'ready' AND bbox IS NOT NULL;
CREATE INDEX maps_stac_east ON app.maps (format, visibility, ((bbox[0])[0]))
    WHERE status = 'ready' AND bbox IS NOT NULL;
CREATE INDEX maps_stac_south ON app.maps (format, visibility, ((bbox[1])[1]))
    WHERE status = 'ready' AND bbox IS NOT NULL;
CREATE INDEX maps_stac_north ON app.maps (format, visibility, ((bbox[0])[1]))
    WHERE status = 'ready' AND bbox IS NOT NULL;
CREATE INDEX maps_stac_west_0_360 ON app.maps (format, visibility, app.west_0_360(bbox))
    WHERE status = 'ready' AND bbox IS NOT NULL;
CREATE INDEX maps_stac_east_0_360 ON app.maps (format, visibility, app.east_0_360(bbox))
    WHERE status = 'ready' AND bbox IS NOT NULL;
CREATE INDEX maps_stac_created ON app.maps (format, visibility, created_at)
    WHERE status = 'ready' AND bbox IS NOT NULL;
