-- Browse: keyset pagination newest first, every contract filter, visibility inside the query.

CREATE OR REPLACE FUNCTION app.tsquery_of(q text) RETURNS tsquery
LANGUAGE sql IMMUTABLE AS $$
    -- Every word must match, as a prefix; punctuation separates words (as in the search column).
    SELECT to_tsquery('simple', string_agg(quote_literal(w) || ':*', ' & '))
    FROM regexp_split_to_table(lower(q), '[^[:alnum:]]+') AS w
    WHERE w <> ''
$$;
COMMENT ON FUNCTION app.tsquery_of(text) IS 'A prefix AND-query from free text; NULL when it has no words.';

CREATE OR REPLACE FUNCTION api.browse_maps(p_caller uuid, p_token_version integer, p_limit integer,
                                           p_after_created timestamptz, p_after_id uuid,
                                           p_q text, p_format text, p_visibility text,
                                           p_owner text, p_status text, p_bbox float8[])
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    c app.users := app.caller(p_caller, p_token_version);
    v_owner uuid;
    v_query tsquery;
    v_box box;
    filters text := '';
    visible text;
    branch_own text;
    branch_shared text;
    sql text;
    rows jsonb;
    last jsonb;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 100 THEN
        PERFORM app.raise('MS400', 'limit: must be between 1 and 100.');
    END IF;
    IF p_owner = 'me' THEN
        IF c.id IS NULL THEN
            PERFORM app.raise('MS401', 'owner=me needs a logged-in caller.');
        END IF;
        v_owner := c.id;
    ELSIF p_owner IS NOT NULL THEN
        SELECT id INTO v_owner FROM app.users WHERE lower(username) = lower(p_owner);
        IF NOT FOUND THEN
            RETURN jsonb_build_object('items', '[]'::jsonb, 'next', NULL);
        END IF;
    END IF;
    IF p_q IS NOT NULL THEN
        v_query := app.tsquery_of(p_q);
        IF v_query IS NOT NULL THEN
            filters := filters || ' AND m.search @@ $4';
        END IF;
    END IF;
    IF p_format IS NOT NULL THEN filters := filters || ' AND m.format = $5'; END IF;
    IF p_visibility IS NOT NULL THEN filters := filters || ' AND m.visibility = $6'; END IF;
    IF v_owner IS NOT NULL THEN filters := filters || ' AND m.owner_id = $7'; END IF;
    IF p_status IS NOT NULL THEN filters := filters || ' AND m.status = $8'; END IF;
    IF p_bbox IS NOT NULL THEN
        v_box := box(point(p_bbox[1], p_bbox[2]), point(p_bbox[3], p_bbox[4]));
        filters := filters || ' AND m.bbox && $9';
    END IF;
    IF p_after_created IS NOT NULL THEN
        filters := filters || ' AND (m.created_at, m.id) < ($2, $3)';
    END IF;

    -- Each branch walks its own index newest-first and stops after limit+1 rows; the outer
    -- merge keeps the page cost independent of the table size.
    branch_shared := 'SELECT m.* FROM app.maps m WHERE m.status = ''ready'' AND m.visibility IN ('
        || CASE WHEN app.is_active(c) THEN '''public'', ''members''' ELSE '''public''' END
        || ')' || CASE WHEN c.id IS NOT NULL THEN ' AND m.owner_id <> $1' ELSE '' END
        || filters || ' ORDER BY m.created_at DESC, m.id DESC LIMIT $10 + 1';
    branch_own := 'SELECT m.* FROM app.maps m WHERE m.owner_id = $1' || filters
        || ' ORDER BY m.created_at DESC, m.id DESC LIMIT $10 + 1';
    IF c.role = 'admin' THEN
        visible := 'SELECT m.* FROM app.maps m WHERE true' || filters
            || ' ORDER BY m.created_at DESC, m.id DESC LIMIT $10 + 1';
    ELSIF c.id IS NOT NULL THEN
        visible := '(' || branch_own || ') UNION ALL (' || branch_shared || ')';
    ELSE
        visible := branch_shared;
    END IF;

    sql := 'SELECT coalesce(jsonb_agg(jsonb_build_object(''doc'', app.map_doc(v, u.username), '
        || '''created_at'', app.iso(v.created_at)) ORDER BY v.created_at DESC, v.id DESC), ''[]'') '
        || 'FROM (SELECT * FROM (' || visible || ') s ORDER BY s.created_at DESC, s.id DESC '
        || 'LIMIT $10 + 1) v JOIN app.users u ON u.id = v.owner_id';
    EXECUTE sql INTO rows
        USING c.id, p_after_created, p_after_id, v_query, p_format, p_visibility, v_owner,
              p_status, v_box, p_limit;

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
COMMENT ON FUNCTION api.browse_maps(uuid, integer, integer, timestamptz, uuid, text, text, text, text, text, float8[])
    IS 'One page of the maps the caller may see, newest first, with the cursor of the next page.';
