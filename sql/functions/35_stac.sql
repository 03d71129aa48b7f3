-- STAC API: items are ready maps with a bbox, seen under the browse rules (app.can_view), newest
-- first on the browse keyset (created_at, id). An item's datetime is its map's created_at, so a
-- datetime interval is a range on the same index the keyset walks.

CREATE OR REPLACE FUNCTION api.stac_search(p_caller uuid, p_token_version integer, p_limit integer,
                                           p_after_created timestamptz, p_after_id uuid,
                                           p_bbox float8[], p_from timestamptz, p_to timestamptz,
                                           p_ids uuid[], p_collections text[])
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    c app.users := app.caller(p_caller, p_token_version);
    v_box1 box;
    v_box2 box;
    v_near integer;
    v_vis text;
    others text;
    shared text;
    ctes text[] := '{}';
    branches text[] := '{}';
    filters text := ' AND m.status = ''ready'' AND m.bbox IS NOT NULL';
    overlap text := '';
    page text := ' ORDER BY m.created_at DESC, m.id DESC LIMIT $10 + 1';
    sql text;
    rows jsonb;
    last jsonb;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 100 THEN
        PERFORM app.raise('MS400', 'limit: must be between 1 and 100.');
    END IF;
    IF p_bbox IS NOT NULL THEN
        -- One box, or two for a search box that crosses the antimeridian (split by the caller).
        IF cardinality(p_bbox) NOT IN (4, 8) THEN
            PERFORM app.raise('MS400', 'bbox: one or two boxes of four numbers.');
        END IF;
        -- The box (unwrapped across the antimeridian) and its copy 360 degrees over: maps
        -- across the antimeridian are stored unwrapped (app.query_boxes).
        v_box1 := (app.query_boxes(p_bbox))[1];
        v_box2 := (app.query_boxes(p_bbox))[2];
        overlap := ' AND (box_overlap(m.bbox, $4) OR coalesce(box_overlap(m.bbox, $5), false))';
    END IF;
    IF p_from IS NOT NULL THEN filters := filters || ' AND m.created_at >= $6'; END IF;
    IF p_to IS NOT NULL THEN filters := filters || ' AND m.created_at <= $7'; END IF;
    IF p_ids IS NOT NULL THEN filters := filters || ' AND m.id = ANY ($8)'; END IF;
    IF p_collections IS NOT NULL THEN filters := filters || ' AND m.format = ANY ($9)'; END IF;
    IF p_after_created IS NOT NULL THEN
        filters := filters || ' AND (m.created_at, m.id) < ($2, $3)';
    END IF;

    -- One branch per way of seeing a map, each reading at most limit+1 rows newest first; the
    -- outer merge keeps a page's cost independent of the table size, as in api.browse_maps.
    -- With a bbox, the planner guesses 0.5% for any box overlap, so it cannot choose between
    -- walking the newest-first index (cheap when many maps overlap the box) and collecting the
    -- overlapping maps from a GiST index (cheap when few do). A probe of the branch's GiST
    -- index, capped at 5,000, tells which: few -> only those candidates, materialized and
    -- sorted; many -> the walk, with the overlap as a plain filter (box_overlap(), a function
    -- call, which no index serves), meeting a match every few hundred rows at most.
    IF c.role = 'admin' THEN
        IF p_bbox IS NOT NULL THEN
            SELECT count(*) INTO v_near FROM (SELECT 1 FROM app.maps m
                WHERE m.bbox && v_box1 OR m.bbox && v_box2 LIMIT 5000) n;
        END IF;
        IF p_bbox IS NOT NULL AND v_near < 5000 THEN
            ctes := ctes || ('near_all AS MATERIALIZED (SELECT * FROM app.maps m'
                             || ' WHERE m.bbox && $4 OR m.bbox && $5)');
            branches := branches || ('SELECT m.* FROM near_all m WHERE true' || filters || page);
        ELSE
            branches := branches || ('SELECT m.* FROM app.maps m WHERE true' || filters || overlap
                                     || page);
        END IF;
    ELSE
        FOREACH v_vis IN ARRAY CASE WHEN app.is_active(c) THEN ARRAY['public', 'members']
                                    ELSE ARRAY['public'] END LOOP
            others := CASE WHEN c.id IS NOT NULL THEN ' AND m.owner_id <> $1' ELSE '' END;
            shared := format(' m.status = ''ready'' AND m.bbox IS NOT NULL AND m.visibility = %L',
                             v_vis);
            IF p_bbox IS NOT NULL THEN
                -- A literal visibility, so that maps_stac_bbox_<visibility> serves the probe.
                EXECUTE 'SELECT count(*) FROM (SELECT 1 FROM app.maps m WHERE' || shared
                    || ' AND (m.bbox && $1 OR m.bbox && $2) LIMIT 5000) n'
                    INTO v_near USING v_box1, v_box2;
            END IF;
            IF p_bbox IS NOT NULL AND v_near < 5000 THEN
                ctes := ctes || format('near_%s AS MATERIALIZED (SELECT * FROM app.maps m WHERE%s'
                    || ' AND (m.bbox && $4 OR m.bbox && $5))', v_vis, shared);
                branches := branches || (format('SELECT m.* FROM near_%s m WHERE true', v_vis)
                                         || others || filters || page);
            ELSE
                branches := branches || ('SELECT m.* FROM app.maps m WHERE' || shared || others
                                         || filters || overlap || page);
            END IF;
        END LOOP;
        IF c.id IS NOT NULL THEN
            -- The caller's own maps: a walk of maps_owner_created, bounded by how many they own.
            branches := branches
                || ('SELECT m.* FROM app.maps m WHERE m.owner_id = $1' || filters || overlap
                    || page);
        END IF;
    END IF;

    sql := CASE WHEN cardinality(ctes) > 0 THEN 'WITH ' || array_to_string(ctes, ', ') || ' '
                ELSE '' END
        || 'SELECT coalesce(jsonb_agg(jsonb_build_object(''doc'', '
        || 'app.map_doc(v, u.username), ''created_at'', app.iso(v.created_at)) '
        || 'ORDER BY v.created_at DESC, v.id DESC), ''[]'') '
        || 'FROM (SELECT * FROM ((' || array_to_string(branches, ') UNION ALL (')
        || ')) s ORDER BY s.created_at DESC, s.id DESC '
        || 'LIMIT $10 + 1) v JOIN app.users u ON u.id = v.owner_id';
    EXECUTE sql INTO rows
        USING c.id, p_after_created, p_after_id, v_box1, v_box2, p_from, p_to, p_ids,
              p_collections, p_limit;

    IF jsonb_array_length(rows) > p_limit THEN
        last := rows -> (p_limit - 1);
        RETURN jsonb_build_object(
            'items', (SELECT jsonb_agg(r -> 'doc' ORDER BY i) FROM jsonb_array_elements(rows)
                      WITH ORDINALITY AS e(r, i) WHERE i <= p_limit),
            'next', jsonb_build_object('created_at', last ->> 'created_at',
                                       'id', last -> 'doc' ->> 'id'));
    END IF;
    RETURN jsonb_build_object(
        'items', (SELECT coalesce(jsonb_agg(r -> 'doc' ORDER BY i), '[]')
                  FROM jsonb_array_elements(rows) WITH ORDINALITY AS e(r, i)),
        'next', NULL);
END
$$;
COMMENT ON FUNCTION api.stac_search(uuid, integer, integer, timestamptz, uuid, float8[], timestamptz, timestamptz, uuid[], text[])
    IS 'One page of the STAC items (ready maps with a bbox) the caller may see, newest first, filtered by bbox, created_at interval, ids and formats; with the next page''s keyset.';

CREATE OR REPLACE FUNCTION api.stac_item(p_caller uuid, p_token_version integer,
                                         p_collection text, p_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    c app.users := app.caller(p_caller, p_token_version);
    m app.maps;
BEGIN
    SELECT * INTO m FROM app.maps WHERE id = p_id;
    -- Not allowed, not an item, or in another collection all look exactly like missing.
    IF NOT FOUND OR NOT app.can_view(m, c) OR m.status <> 'ready' OR m.bbox IS NULL
       OR m.format IS DISTINCT FROM p_collection THEN
        PERFORM app.raise('MS404', 'Item not found.');
    END IF;
    RETURN app.map_doc(m, app.owner_name(m.owner_id));
END
$$;
COMMENT ON FUNCTION api.stac_item(uuid, integer, text, uuid)
    IS 'The map document of one STAC item the caller may see in that collection; MS404 otherwise.';

CREATE OR REPLACE FUNCTION app.stac_extent(w float8, e float8, s float8, n float8,
                                           wb float8, eb float8, t0 timestamptz,
                                           t1 timestamptz) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    -- The narrower of the two frames' unions that is valid in its frame: the antimeridian
    -- frame needs no box across it (e <= 180), the Greenwich frame none across 0 (eb <= 360).
    -- STAC writes one across the antimeridian west > east. Neither: the whole world.
    SELECT jsonb_build_object(
        'bbox', CASE
            WHEN e <= 180 AND (eb > 360 OR e - w <= eb - wb) THEN jsonb_build_array(w, s, e, n)
            WHEN eb <= 360 AND eb - wb < 360
                THEN jsonb_build_array(CASE WHEN wb > 180 THEN wb - 360 ELSE wb END, s,
                                       CASE WHEN eb > 180 THEN eb - 360 ELSE eb END, n)
            ELSE jsonb_build_array(-180, s, 180, n) END,
        'interval', jsonb_build_array(app.iso(t0), app.iso(t1)))
$$;
COMMENT ON FUNCTION app.stac_extent(float8, float8, float8, float8, float8, float8, timestamptz, timestamptz)
    IS 'A STAC extent {bbox, interval} from the bounds of a set of items in both longitude frames.';

CREATE OR REPLACE FUNCTION api.stac_extents(p_caller uuid, p_token_version integer,
                                            p_formats text[]) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    c app.users := app.caller(p_caller, p_token_version);
    vis text[];
    own boolean;
BEGIN
    -- What the caller sees of the items, as api.stac_search: shared maps by visibility (an
    -- admin every map), and the caller's own maps whatever their visibility.
    vis := CASE WHEN c.role = 'admin' THEN ARRAY['public', 'members', 'private']
                WHEN app.is_active(c) THEN ARRAY['public', 'members']
                ELSE ARRAY['public'] END;
    own := c.id IS NOT NULL AND c.role IS DISTINCT FROM 'admin';
    RETURN (
        WITH bounds AS (
            -- Each bound one probe of its maps_stac_* index (migration 016): constant cost
            -- per (format, visibility), whatever the number of maps.
            SELECT f AS format,
                (SELECT min((m.bbox[1])[0]) FROM app.maps m WHERE m.format = f AND m.visibility = v
                    AND m.status = 'ready' AND m.bbox IS NOT NULL) AS w,
                (SELECT max((m.bbox[0])[0]) FROM app.maps m WHERE m.format = f AND m.visibility = v
                    AND m.status = 'ready' AND m.bbox IS NOT NULL) AS e,
                (SELECT min((m.bbox[1])[1]) FROM app.maps m WHERE m.format = f AND m.visibility = v
                    AND m.status = 'ready' AND m.bbox IS NOT NULL) AS s,
                (SELECT max((m.bbox[0])[1]) FROM app.maps m WHERE m.format = f AND m.visibility = v
                    AND m.status = 'ready' AND m.bbox IS NOT NULL) AS n,
                (SELECT min(app.west_0_360(m.bbox)) FROM app.maps m WHERE m.format = f
                    AND m.visibility = v AND m.status = 'ready' AND m.bbox IS NOT NULL) AS wb,
                (SELECT max(app.east_0_360(m.bbox)) FROM app.maps m WHERE m.format = f
                    AND m.visibility = v AND m.status = 'ready' AND m.bbox IS NOT NULL) AS eb,
                (SELECT min(m.created_at) FROM app.maps m WHERE m.format = f AND m.visibility = v
                    AND m.status = 'ready' AND m.bbox IS NOT NULL) AS t0,
                (SELECT max(m.created_at) FROM app.maps m WHERE m.format = f AND m.visibility = v
                    AND m.status = 'ready' AND m.bbox IS NOT NULL) AS t1
            FROM unnest(p_formats) AS f, unnest(vis) AS v
            UNION ALL
            -- The caller's own maps: a walk of maps_owner_created, bounded by their quota.
            SELECT m.format, min((m.bbox[1])[0]), max((m.bbox[0])[0]), min((m.bbox[1])[1]),
                   max((m.bbox[0])[1]), min(app.west_0_360(m.bbox)), max(app.east_0_360(m.bbox)),
                   min(m.created_at), max(m.created_at)
            FROM app.maps m
            WHERE own AND m.owner_id = c.id AND m.status = 'ready' AND m.bbox IS NOT NULL
              AND m.format = ANY (p_formats)
            GROUP BY m.format),
        merged AS (
            SELECT format, min(w) AS w, max(e) AS e, min(s) AS s, max(n) AS n, min(wb) AS wb,
                   max(eb) AS eb, min(t0) AS t0, max(t1) AS t1
            FROM bounds WHERE t0 IS NOT NULL GROUP BY format)
        SELECT coalesce(jsonb_object_agg(format, app.stac_extent(w, e, s, n, wb, eb, t0, t1)),
                        '{}')
        FROM merged);
END
$$;
COMMENT ON FUNCTION api.stac_extents(uuid, integer, text[])
    IS 'Per collection (format) with items the caller may see: {bbox, interval} of those items (bbox across the antimeridian west > east).';
