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
    filters text := ' AND m.status = ''ready'' AND m.bbox IS NOT NULL';
    page text := ' ORDER BY m.created_at DESC, m.id DESC LIMIT $10 + 1';
    visible text;
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
        v_box1 := box(point(p_bbox[1], p_bbox[2]), point(p_bbox[3], p_bbox[4]));
        IF cardinality(p_bbox) = 8 THEN
            v_box2 := box(point(p_bbox[5], p_bbox[6]), point(p_bbox[7], p_bbox[8]));
            filters := filters || ' AND (m.bbox && $4 OR m.bbox && $5)';
        ELSE
            filters := filters || ' AND m.bbox && $4';
        END IF;
    END IF;
    IF p_from IS NOT NULL THEN filters := filters || ' AND m.created_at >= $6'; END IF;
    IF p_to IS NOT NULL THEN filters := filters || ' AND m.created_at <= $7'; END IF;
    IF p_ids IS NOT NULL THEN filters := filters || ' AND m.id = ANY ($8)'; END IF;
    IF p_collections IS NOT NULL THEN filters := filters || ' AND m.format = ANY ($9)'; END IF;
    IF p_after_created IS NOT NULL THEN
        filters := filters || ' AND (m.created_at, m.id) < ($2, $3)';
    END IF;

    -- Each branch walks its own index newest first and stops after limit+1 rows (the shared
    -- ones maps_stac_shared, one visibility each); the outer merge keeps a page's cost
    -- independent of the table size, as in api.browse_maps.
    IF c.role = 'admin' THEN
        visible := 'SELECT m.* FROM app.maps m WHERE true' || filters || page;
    ELSE
        visible := '(SELECT m.* FROM app.maps m WHERE m.visibility = ''public'''
            || CASE WHEN c.id IS NOT NULL THEN ' AND m.owner_id <> $1' ELSE '' END
            || filters || page || ')';
        IF app.is_active(c) THEN
            visible := visible || ' UNION ALL (SELECT m.* FROM app.maps m'
                || ' WHERE m.visibility = ''members'' AND m.owner_id <> $1' || filters || page || ')';
        END IF;
        IF c.id IS NOT NULL THEN
            visible := visible || ' UNION ALL (SELECT m.* FROM app.maps m WHERE m.owner_id = $1'
                || filters || page || ')';
        END IF;
    END IF;

    sql := 'SELECT coalesce(jsonb_agg(jsonb_build_object(''doc'', app.map_doc(v, u.username), '
        || '''created_at'', app.iso(v.created_at)) ORDER BY v.created_at DESC, v.id DESC), ''[]'') '
        || 'FROM (SELECT * FROM (' || visible || ') s ORDER BY s.created_at DESC, s.id DESC '
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
