-- Browse: keyset pagination newest first, every contract filter, visibility inside the query.

CREATE OR REPLACE FUNCTION app.tsquery_of(q text) RETURNS tsquery
LANGUAGE sql IMMUTABLE AS $$
    -- Every word must match. The words are the search column's own (the same app.search_text
    -- and parser, whose dictionary folds case as the database's locale can, with CJK runs set
    -- apart by app.search_split): any script, and whatever the locale, query and index agree.
    -- A word is a prefix; but a CJK run of two or more characters is the AND of its bigrams,
    -- each exact, as the column holds it (app.search_words, migration 015). The terms are
    -- taken as they are (tsquery input, quoted with quotes and backslashes doubled, not parsed
    -- again).
    SELECT string_agg('''' || replace(replace(t.term, '\', '\\'), '''', '''''') || '''' || t.suffix,
                      ' & ')::tsquery
    FROM unnest(to_tsvector('simple', app.search_split(q))) AS w,
         LATERAL (SELECT w.lexeme ~ ('^' || app.cjk_letter()) AS cjk) AS k,
         LATERAL (SELECT substr(w.lexeme, i, 2), ''
                  FROM generate_series(1, length(w.lexeme) - 1) AS i
                  WHERE k.cjk
                  UNION ALL
                  SELECT w.lexeme, ':*'
                  WHERE NOT k.cjk OR length(w.lexeme) = 1) AS t(term, suffix)
$$;
COMMENT ON FUNCTION app.tsquery_of(text) IS 'An AND-query from free text (words as prefixes, CJK runs as their bigrams); NULL when it has no words.';

CREATE OR REPLACE FUNCTION app.text_matches_estimate(q tsquery) RETURNS float8
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    plan json;
BEGIN
    -- VOLATILE only because PostgreSQL allows EXPLAIN nowhere else; it plans, reads no row.
    EXECUTE 'EXPLAIN (FORMAT JSON) SELECT 1 FROM app.maps m WHERE m.search @@ $1' INTO plan USING q;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::float8;
END
$$;
COMMENT ON FUNCTION app.text_matches_estimate(tsquery) IS 'The planner''s estimate of the maps whose text matches q.';

-- How a page is found. The maps the caller may see (admins: all; members: their own in any
-- status, and ready maps shared with them) are walked newest first on (created_at, id), from
-- the cursor, until limit+1 match the filters. maps_walk holds every column the visibility
-- rule reads, so one walk serves the whole rule (maps_owner_walk when only one owner's maps
-- can match).
--
-- Without q or bbox the planner walks that index itself. With them it cannot choose well: it
-- estimates `bbox && box` at a fixed 0.5 % of the table (Europe really matches 40 %), and a
-- walk only pays while matches are common. So the walk is done in bounded steps, checking the
-- filters on each row (from the index alone but for q); when the first step falls short:
-- - a small bbox (a few dozen grid cells, app.map_cells) is read from maps_cell_walk in time
--   windows going back from the last row walked, sized by the rate of matches seen so far
--   and growing fourfold until enough are found (the last window is unbounded);
-- - otherwise the rows walked measure how common matches are right here:
--     rows to walk for the rest   ~ still needed / (hits / walked)
--     rows the GIN/GiST index has ~ (hits / walked) * maps in the table
--                                   (at most the planner's estimate of the words' matches)
--   while walking on is the cheaper, walk on (to twice the expected distance, at most four
--   times the last step: a few hits say little); else take every match older than the last
--   row walked from the GIN/GiST index and keep the newest.
-- Every path returns exactly the next rows of the keyset order, so pages stay exact.
CREATE OR REPLACE FUNCTION api.browse_maps(p_caller uuid, p_token_version integer, p_limit integer,
                                           p_after_created timestamptz, p_after_id uuid,
                                           p_q text, p_format text, p_visibility text,
                                           p_owner text, p_status text, p_bbox float8[])
RETURNS json
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    c app.users := app.caller(p_caller, p_token_version);
    v_owner uuid;
    v_query tsquery;
    v_box box;
    v_box2 box;
    v_need integer;
    shared_with text[];
    may_own boolean;
    may_share boolean;
    visible text;
    filters text := '';  -- every filter but bbox
    box_filter text := '';
    after text;
    keyset text := ' ORDER BY m.created_at DESC, m.id DESC';
    ids uuid[] := '{}';
    page_ids uuid[];
    pos_created timestamptz := p_after_created;
    pos_id uuid := p_after_id;
    first_created timestamptz;
    step bigint;
    steps integer := 0;
    stepped boolean;
    walked bigint := 0;
    hits bigint := 0;
    path text := 'walk';
    cells bigint[];
    since timestamptz;
    span float8;
    windows integer := 0;
    table_rows float8;
    density float8;
    index_rows float8;
    oldest timestamptz;
    w record;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 100 THEN
        PERFORM app.raise('MS400', 'limit: must be between 1 and 100.');
    END IF;
    v_need := p_limit + 1;
    IF p_owner = 'me' THEN
        IF c.id IS NULL THEN
            PERFORM app.raise('MS401', 'owner=me needs a logged-in caller.');
        END IF;
        v_owner := c.id;
    ELSIF p_owner IS NOT NULL THEN
        SELECT id INTO v_owner FROM app.users WHERE lower(username) = lower(p_owner);
        IF NOT FOUND THEN
            RETURN json_build_object('next', NULL, 'items', '[]'::json);
        END IF;
    END IF;
    IF p_q IS NOT NULL AND p_q !~ '^[[:space:]]*$' THEN
        v_query := app.tsquery_of(p_q);
        IF v_query IS NULL THEN
            -- Text with no searchable word (punctuation only) matches no map, never all.
            RETURN json_build_object('next', NULL, 'items', '[]'::json);
        END IF;
        filters := filters || ' AND m.search @@ $4';
    END IF;
    IF p_format IS NOT NULL THEN filters := filters || ' AND m.format = $5'; END IF;
    IF p_visibility IS NOT NULL THEN filters := filters || ' AND m.visibility = $6'; END IF;
    IF p_status IS NOT NULL THEN filters := filters || ' AND m.status = $8'; END IF;
    IF p_bbox IS NOT NULL THEN
        -- The box and its copy 360 degrees east, for maps across the antimeridian
        -- (app.query_boxes).
        v_box := (app.query_boxes(p_bbox))[1];
        v_box2 := (app.query_boxes(p_bbox))[2];
        box_filter := ' AND (m.bbox && $9 OR m.bbox && $15)';
    END IF;

    -- The visibility rule, reduced to the part the filters leave possible (so that, e.g.,
    -- status=processing walks the caller's own maps only, not every map in the table).
    shared_with := CASE WHEN app.is_active(c) THEN ARRAY['public', 'members'] ELSE ARRAY['public'] END;
    may_own := c.id IS NOT NULL AND (v_owner IS NULL OR v_owner = c.id);
    may_share := coalesce(p_status = 'ready', true)
        AND coalesce(p_visibility = ANY (shared_with), true)
        AND NOT (v_owner IS NOT DISTINCT FROM c.id AND c.id IS NOT NULL);
    IF c.role = 'admin' THEN
        visible := 'true';
    ELSIF may_own AND may_share THEN
        visible := '(m.owner_id = $1 OR (m.status = ''ready'' AND m.visibility = ANY ($12)))';
    ELSIF may_own THEN
        visible := 'm.owner_id = $1';
    ELSIF may_share THEN
        visible := 'm.status = ''ready'' AND m.visibility = ANY ($12)';
    ELSE
        RETURN json_build_object('next', NULL, 'items', '[]'::json);
    END IF;
    -- owner= goes with the rule: it picks the walk index (maps_owner_walk).
    IF v_owner IS NOT NULL THEN
        visible := visible || ' AND m.owner_id = $7';
    END IF;

    after := CASE WHEN pos_created IS NULL THEN '' ELSE ' AND (m.created_at, m.id) < ($2, $3)' END;
    IF v_query IS NULL AND v_box IS NULL THEN
        EXECUTE 'SELECT coalesce(array_agg(id), ''{}'') FROM (SELECT m.id FROM app.maps m WHERE '
            || visible || filters || after || keyset || ' LIMIT $10) s'
            INTO ids
            USING c.id, pos_created, pos_id, v_query, p_format, p_visibility, v_owner,
                  p_status, v_box, v_need, NULL::bigint, shared_with;
    ELSE
        step := 8 * v_need;
        LOOP
            -- One step of the walk: up to `step` visible rows in keyset order, returning the
            -- matches (until enough), the step's first row and its last, where the next
            -- step starts. Two rows more than still needed: the first and last may not match.
            stepped := false;
            steps := steps + 1;
            FOR w IN EXECUTE
                'SELECT w.id, w.created_at, w.hit, w.n = 1 AS first, w.n = $11 AS last FROM ('
                || 'SELECT m.id, m.created_at, (true' || filters || box_filter || ') AS hit, '
                || 'row_number() OVER (ORDER BY m.created_at DESC, m.id DESC) AS n '
                || 'FROM app.maps m WHERE ' || visible || after || keyset || ' LIMIT $11) w '
                || 'WHERE w.hit OR w.n = 1 OR w.n = $11 LIMIT $10 + 2'
                USING c.id, pos_created, pos_id, v_query, p_format, p_visibility, v_owner,
                      p_status, v_box, v_need - hits, step, shared_with, NULL::bigint[],
                      NULL::timestamptz, v_box2
            LOOP
                IF w.hit THEN
                    ids := ids || w.id;
                    hits := hits + 1;
                END IF;
                IF w.first AND steps = 1 THEN
                    first_created := w.created_at;
                END IF;
                IF w.last THEN
                    stepped := true;
                    pos_created := w.created_at;
                    pos_id := w.id;
                END IF;
            END LOOP;
            -- Enough, or the walk ran out before the step's end: every row has been seen.
            EXIT WHEN hits >= v_need OR NOT stepped;
            after := ' AND (m.created_at, m.id) < ($2, $3)';
            walked := walked + step;
            IF steps = 1 AND v_box IS NOT NULL THEN
                -- Both boxes' keys, or none (NULL: too many) as for one box.
                cells := app.map_cells(v_box, 200);
                cells := CASE WHEN cells IS NOT NULL THEN cells || app.map_cells(v_box2, 200) END;
                IF cells IS NOT NULL AND app.map_cells(v_box2, 200) IS NULL THEN
                    cells := NULL;
                END IF;
                IF cells IS NOT NULL THEN
                    path := 'cells';
                    EXIT;
                END IF;
            END IF;
            IF table_rows IS NULL THEN
                SELECT greatest(reltuples, 1) INTO table_rows FROM pg_class
                WHERE oid = 'app.maps'::regclass;
            END IF;
            density := greatest(hits, 0.5) / walked;
            index_rows := density * table_rows;
            IF (v_need - hits) / density <= index_rows AND v_query IS NOT NULL THEN
                -- The text index gives at most the words' matches, which the planner
                -- estimates well (column statistics): one early hit does not make a rare
                -- word worth a long walk.
                index_rows := least(index_rows, app.text_matches_estimate(v_query));
            END IF;
            IF (v_need - hits) / density <= index_rows THEN
                step := least(ceil(2 * (v_need - hits) / density), 4 * step);
                CONTINUE;
            END IF;
            path := 'index';
            EXIT;
        END LOOP;

        IF path = 'cells' THEN
            -- Twice the time the rest should take at the rate of matches walked so far.
            span := 2 * (v_need - hits) / greatest(hits, 0.5)
                * greatest(extract(epoch FROM first_created - pos_created), 1e-6);
            SELECT min(m.created_at) INTO oldest FROM app.maps m;
            LOOP
                windows := windows + 1;
                since := CASE WHEN windows = 4 OR span > 3e9 THEN '-infinity'
                              ELSE pos_created - make_interval(secs => span) END;
                IF since <= oldest THEN
                    since := '-infinity';  -- the same rows; and no window after this one
                END IF;
                -- OFFSET 0 keeps the bbox test out of the scan: the planner, which believes
                -- any bbox matches 0.5 % of the table, would otherwise pick the GiST index.
                EXECUTE 'SELECT coalesce(array_agg(id), ''{}'') FROM (SELECT c.id FROM ('
                    || 'SELECT m.id, m.created_at, m.bbox FROM app.maps m '
                    || 'WHERE app.map_cell(m.bbox) = ANY ($13) AND m.created_at >= $14 AND '
                    || visible || filters || after || ' OFFSET 0) c WHERE (c.bbox && $9 '
                    || 'OR c.bbox && $15) ORDER BY c.created_at DESC, c.id DESC LIMIT $10) s'
                    INTO page_ids
                    USING c.id, pos_created, pos_id, v_query, p_format, p_visibility, v_owner,
                          p_status, v_box, v_need - hits, NULL::bigint, shared_with, cells, since,
                          v_box2;
                ids := ids || page_ids;
                hits := hits + cardinality(page_ids);
                EXIT WHEN hits >= v_need OR since = '-infinity';
                -- Everything newer than `since` has been read: go on from there.
                pos_created := since;
                pos_id := '00000000-0000-0000-0000-000000000000';
                span := span * 4;
            END LOOP;
        ELSIF path = 'index' THEN
            -- The matches come from the GIN/GiST index alone; the rule, owner= and the cursor
            -- are applied to them after, or the planner would AND in the bitmap of an owner's
            -- or a time range's tens of thousands of rows (estimated cheaper than it is).
            -- OFFSET 0 fences the subquery as MATERIALIZED did, without copying every match
            -- into a tuplestore first (a quarter of this step's time for a rare word at 1M).
            EXECUTE 'SELECT coalesce(array_agg(id), ''{}'') FROM (SELECT m.id FROM ('
                || 'SELECT m.id, m.created_at, m.owner_id, m.status, m.visibility '
                || 'FROM app.maps m WHERE true' || filters || box_filter || ' OFFSET 0) m '
                || 'WHERE ' || visible || after || keyset || ' LIMIT $10) s'
                INTO page_ids
                USING c.id, pos_created, pos_id, v_query, p_format, p_visibility, v_owner,
                      p_status, v_box, v_need - hits, NULL::bigint, shared_with, NULL::bigint[],
                      NULL::timestamptz, v_box2;
            ids := ids || page_ids;
        END IF;
        -- Which path served the page, for tests and operators (SET client_min_messages = debug).
        RAISE DEBUG 'browse: % after % walk steps (% rows), % windows',
            path, steps, walked, windows;
    END IF;

    -- The page: the first `limit` documents in keyset order (the ids came in that order, but
    -- arrays do not promise it) and, when one more matched, the cursor after the last shown.
    -- Built as json ('next' first, as jsonb would order the keys): json_agg appends each
    -- row's stored document (app.maps.doc, migration 014) as text, where jsonb_agg and the
    -- outer jsonb_build_object would decode and encode every document twice more.
    RETURN (
        SELECT json_build_object(
            'next', CASE WHEN count(*) > p_limit THEN json_build_object(
                'id', min(v.id::text) FILTER (WHERE v.n = p_limit),
                'created_at', min(app.iso(v.created_at)) FILTER (WHERE v.n = p_limit)) END,
            'items', coalesce(json_agg(v.doc ORDER BY v.created_at DESC, v.id DESC)
                              FILTER (WHERE v.n <= p_limit), '[]'))
        FROM (SELECT m.doc, m.id, m.created_at,
                     row_number() OVER (ORDER BY m.created_at DESC, m.id DESC) AS n
              FROM app.maps m WHERE m.id = ANY (ids)
              ORDER BY m.created_at DESC, m.id DESC LIMIT v_need) v);
END
$$;
COMMENT ON FUNCTION api.browse_maps(uuid, integer, integer, timestamptz, uuid, text, text, text, text, text, float8[])
    IS 'One page of the maps the caller may see, newest first, with the cursor of the next page.';
