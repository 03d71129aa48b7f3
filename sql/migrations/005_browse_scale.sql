-- Issue 11 (5b): browse stays fast at a million maps with q and bbox filters.
-- api.browse_maps walks the keyset order checking filters as it goes, or reads the matches of
-- a small bbox cell by cell, or asks the GIN/GiST index for every match and sorts them,
-- whichever the rows it has walked say is cheaper. These indexes carry what the visibility
-- rule and the bbox filter read, so all paths but the text filter's skip the table:
-- - the walk: every map newest first (all statuses: admins and owners see them all);
-- - the walk for one owner (owner=, or the caller's own maps only);
-- - bbox matches with the keyset and visibility columns, to sort them without the table;
-- - the cell walk: maps by grid cell, newest first in each (see app.map_cell).
-- Migrations run in one transaction, so these are plain CREATE INDEX: writes to app.maps wait
-- while they build (about 20 s at a million maps; the four take ~500 MB there, +350 MB).
CREATE INDEX maps_walk ON app.maps (created_at DESC, id DESC)
    INCLUDE (status, visibility, owner_id, bbox);
DROP INDEX app.maps_ready_created;

CREATE INDEX maps_owner_walk ON app.maps (owner_id, created_at DESC, id DESC)
    INCLUDE (status, visibility, bbox);
DROP INDEX app.maps_owner_created;

CREATE INDEX maps_bbox_walk ON app.maps USING gist (bbox)
    INCLUDE (created_at, id, status, visibility, owner_id);
DROP INDEX app.maps_bbox;

-- A grid index for bboxes without PostGIS: a box goes to the level whose cells are at least
-- as large as the box (cells of 0.25 degree doubling up to 512), in the cell holding its
-- centre. A box of that level can only meet a query box if its centre lies within half a
-- cell of it, so a small query box needs a few dozen (level, cell) keys (app.map_cells), and
-- each key's maps are in keyset order: the newest matches of a city-sized box are found by
-- reading a short time window of each key, however many maps the table holds.
-- These two functions are the index's contract: change them only together, in a migration
-- that rebuilds maps_cell_walk.
CREATE FUNCTION app.map_cell(b box) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    cx float8 := ((b[0])[0] + (b[1])[0]) / 2;
    cy float8 := ((b[0])[1] + (b[1])[1]) / 2;
    size float8 := greatest((b[0])[0] - (b[1])[0], (b[0])[1] - (b[1])[1]);
    level integer := 0;
    s float8 := 0.25;
BEGIN
    -- Not a longitude/latitude box (or NaN): the one cell every bbox query reads.
    IF NOT (size <= 512 AND abs(cx) <= 360 AND abs(cy) <= 360) THEN
        RETURN -1;
    END IF;
    WHILE size > s LOOP
        level := level + 1;
        s := s * 2;
    END LOOP;
    RETURN (level::bigint << 40) | (floor((cy + 360) / s)::bigint << 20)
        | floor((cx + 360) / s)::bigint;
END
$$;
COMMENT ON FUNCTION app.map_cell(box) IS 'The grid cell key of a map bbox (maps_cell_walk); -1 for boxes off the lon/lat grid.';

CREATE FUNCTION app.map_cells(q box, max_keys integer) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    keys bigint[] := ARRAY[-1::bigint];
    s float8;
    reach float8;
    x0 bigint;
    x1 bigint;
    y0 bigint;
    y1 bigint;
BEGIN
    FOR level IN 0..11 LOOP
        s := 0.25 * (1 << level);
        -- Centres of boxes of this level that meet q lie within s/2 of it (and a hair more,
        -- so that rounding never loses one); centres are within +-360 (app.map_cell).
        reach := s / 2 + 1e-9;
        x0 := greatest(floor(((q[1])[0] - reach + 360) / s), 0);
        x1 := least(floor(((q[0])[0] + reach + 360) / s), floor(720 / s));
        y0 := greatest(floor(((q[1])[1] - reach + 360) / s), 0);
        y1 := least(floor(((q[0])[1] + reach + 360) / s), floor(720 / s));
        CONTINUE WHEN x1 < x0 OR y1 < y0;
        IF cardinality(keys) + (x1 - x0 + 1) * (y1 - y0 + 1) > max_keys THEN
            RETURN NULL;
        END IF;
        keys := keys || ARRAY(SELECT (level::bigint << 40) | (y << 20) | x
                              FROM generate_series(y0, y1) AS y, generate_series(x0, x1) AS x);
    END LOOP;
    RETURN keys;
END
$$;
COMMENT ON FUNCTION app.map_cells(box, integer) IS 'Every cell key a map meeting the box can have; NULL when more than max_keys.';

CREATE INDEX maps_cell_walk ON app.maps (app.map_cell(bbox), created_at DESC, id DESC)
    INCLUDE (status, visibility, owner_id, bbox);
