-- Internal helpers (schema app): documents, caller resolution, visibility. Not callable by the API role.

-- STABLE, as to_char is: a function declared more immutable than its body is never inlined,
-- and inlining it saves a function call per timestamp of every document.
CREATE OR REPLACE FUNCTION app.iso(ts timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;
COMMENT ON FUNCTION app.iso(timestamptz) IS 'ISO 8601 UTC text with microseconds, as the API shows times.';

CREATE OR REPLACE FUNCTION app.raise(code text, message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
END
$$;
COMMENT ON FUNCTION app.raise(text, text) IS 'Raise an API error: SQLSTATE class MS maps to HTTP in chalicelib/errors.py.';

CREATE OR REPLACE FUNCTION app.caller(p_user uuid, p_token_version integer) RETURNS app.users
LANGUAGE plpgsql STABLE AS $$
DECLARE
    u app.users;
BEGIN
    IF p_user IS NULL THEN
        RETURN NULL;  -- a guest
    END IF;
    SELECT * INTO u FROM app.users WHERE id = p_user;
    -- A password change, role change or deactivation bumps token_version: older tokens die here.
    IF NOT FOUND OR u.token_version IS DISTINCT FROM p_token_version THEN
        PERFORM app.raise('MS401', 'The access token is no longer valid; log in again.');
    END IF;
    RETURN u;
END
$$;
COMMENT ON FUNCTION app.caller(uuid, integer) IS 'The calling user (NULL for a guest); MS401 when the token was revoked.';

CREATE OR REPLACE FUNCTION app.is_active(u app.users) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT u.id IS NOT NULL AND (u.role = 'admin' OR coalesce(u.active_until > now(), false))
$$;
COMMENT ON FUNCTION app.is_active(app.users) IS 'Admins always; members while active_until is in the future.';

CREATE OR REPLACE FUNCTION app.require_active_uploader(c app.users) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT app.is_active(c) THEN
        PERFORM app.raise('MSSUB', 'Your subscription is not active: uploading needs an active subscription.');
    END IF;
END
$$;
COMMENT ON FUNCTION app.require_active_uploader(app.users) IS 'Nothing while the caller may upload (admins, members while active_until is ahead); MSSUB otherwise.';

CREATE OR REPLACE FUNCTION app.can_view(m app.maps, c app.users) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(c.role = 'admin', false)
        OR coalesce(m.owner_id = c.id, false)
        OR (m.status = 'ready'
            AND (m.visibility = 'public' OR (m.visibility = 'members' AND app.is_active(c))))
$$;
COMMENT ON FUNCTION app.can_view(app.maps, app.users) IS 'The visibility rule: admin, owner, or a ready map shared with the caller.';

CREATE OR REPLACE FUNCTION app.can_manage(m app.maps, c app.users) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(c.role = 'admin', false) OR coalesce(m.owner_id = c.id, false)
$$;
COMMENT ON FUNCTION app.can_manage(app.maps, app.users) IS 'Owner or admin: may edit and delete.';

CREATE OR REPLACE FUNCTION app.user_doc(u app.users) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'username', u.username,
        'role', u.role,
        'active', app.is_active(u),
        'active_until', app.iso(u.active_until),
        'created_at', app.iso(u.created_at),
        'updated_at', app.iso(u.updated_at))
$$;
COMMENT ON FUNCTION app.user_doc(app.users) IS 'A user as the API shows it (never the hash).';

CREATE OR REPLACE FUNCTION app.variant_filename(p_filename text, p_kind text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    -- A COG is other bytes than the upload (and may be larger): saved under another name, so
    -- "Download" and "Download original" never overwrite each other (alps.tif -> alps.cog.tif).
    -- A gzip variant keeps the name: HTTP clients decode it to the upload's very bytes.
    SELECT CASE WHEN p_kind = 'cog'
                THEN regexp_replace(p_filename, '\.tiff?$', '', 'i') || '.cog.tif'
                ELSE p_filename END
$$;
COMMENT ON FUNCTION app.variant_filename(text, text)
    IS 'The name a map''s optimized variant downloads as: name.cog.tif for a COG, the upload''s name for gzip.';

-- The map document is built as json, not jsonb: json_build_object appends text, where
-- jsonb_build_object also sorts the keys and encodes a binary value that is printed again on
-- the way out (a document costs about a third less, a browse page of them half). The keys are
-- written in the order jsonb keeps them (shorter first, then bytewise), so every response
-- reads exactly as before (tests/functional/test_browse.py).
CREATE OR REPLACE FUNCTION app.map_doc_json(m app.maps, owner_name text) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', m.id,
        'size', coalesce(m.size, m.declared_size),
        'error', CASE WHEN m.error_code IS NULL THEN NULL
                      ELSE json_build_object('code', m.error_code, 'message', m.error_message) END,
        'owner', owner_name,
        'stage', m.stage,
        'title', m.title,
        'format', m.format,
        -- Until processed, the checksum declared with the upload; once ready, only the one
        -- computed (null when the file was too large to hash: metadata.checksum says why).
        'sha256', CASE WHEN m.status = 'ready' THEN m.sha256
                       ELSE coalesce(m.sha256, m.declared_sha256) END,
        'status', m.status,
        'preview', CASE WHEN m.status <> 'ready' OR m.preview_key IS NULL THEN NULL
                        ELSE json_build_object('width', m.preview_width, 'height', m.preview_height,
                                               'media_type', m.preview_media_type) END,
        'filename', m.filename,
        'metadata', m.metadata,
        'progress', m.progress,
        'variants', CASE WHEN m.status <> 'ready' THEN NULL ELSE json_strip_nulls(json_build_object(
            'original', json_build_object('size', m.size, 'sha256', m.sha256,
                                          'filename', m.filename, 'media_type', m.media_type),
            'optimized', CASE WHEN m.variant_key IS NULL THEN NULL ELSE json_build_object(
                'kind', m.variant_kind, 'size', m.variant_size, 'sha256', m.variant_sha256,
                'filename', app.variant_filename(m.filename, m.variant_kind),
                'media_type', m.variant_media_type, 'content_encoding', m.variant_encoding) END)) END,
        'created_at', app.iso(m.created_at),
        'media_type', m.media_type,
        'updated_at', app.iso(m.updated_at),
        'visibility', m.visibility,
        'description', m.description,
        'uploaded_at', app.iso(m.uploaded_at),
        'processed_at', app.iso(m.processed_at),
        'download_count', m.download_count)
$$;
COMMENT ON FUNCTION app.map_doc_json(app.maps, text) IS 'The map document of the contract (json, keys in jsonb order); stored in app.maps.doc.';

-- Every row keeps its document in app.maps.doc (trigger maps_zz_doc, migration 014), so a
-- change to how the document is built must reach the rows already written: every migrate runs
-- this after loading the functions (99_stored_documents.sql), and it rewrites the documents when the builders' source differs
-- from what they were built with. The builders are app.map_doc, app.map_doc_json and what it
-- calls of ours (app.iso): a new helper called by the document belongs in this list.
CREATE OR REPLACE FUNCTION app.refresh_map_docs() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    built_with text;
    rewritten bigint := 0;
BEGIN
    SELECT md5(string_agg(p.oid::regprocedure::text || ':' || p.prosrc, ';'
                          ORDER BY p.oid::regprocedure::text))
        INTO built_with
        FROM pg_proc p
        WHERE p.oid IN ('app.map_doc(app.maps, text)'::regprocedure,
                        'app.map_doc_json(app.maps, text)'::regprocedure,
                        'app.iso(timestamptz)'::regprocedure,
                        'app.variant_filename(text, text)'::regprocedure);
    IF built_with IS DISTINCT FROM (SELECT fingerprint FROM app.map_docs_built_with) THEN
        -- Only rows whose document reads differently now are written (maps_zz_doc writes it):
        -- a rewrite of every row is a new version of each (minutes at a million maps), which
        -- an edit that changes no document (a comment, a refactoring) should not cost.
        UPDATE app.maps m SET doc = NULL
            FROM app.users u
            WHERE u.id = m.owner_id AND m.doc::text IS DISTINCT FROM app.map_doc(m, u.username)::text;
        GET DIAGNOSTICS rewritten = ROW_COUNT;
        INSERT INTO app.map_docs_built_with (fingerprint) VALUES (built_with)
            ON CONFLICT (only_row) DO UPDATE SET fingerprint = excluded.fingerprint;
    END IF;
    RETURN rewritten;
END
$$;
COMMENT ON FUNCTION app.refresh_map_docs() IS 'Rewrite every stored map document when its builders (app.map_doc, app.map_doc_json, app.iso, app.variant_filename) changed; returns the rows rewritten.';

CREATE OR REPLACE FUNCTION app.map_doc(m app.maps, owner_name text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT app.map_doc_json(m, owner_name)::jsonb
$$;
COMMENT ON FUNCTION app.map_doc(app.maps, text) IS 'The map document of the contract, as jsonb (app.map_doc_json).';

CREATE OR REPLACE FUNCTION app.load_map(p_id uuid, c app.users) RETURNS app.maps
LANGUAGE plpgsql STABLE AS $$
DECLARE
    m app.maps;
BEGIN
    SELECT * INTO m FROM app.maps WHERE id = p_id;
    -- Not allowed looks exactly like missing: no existence leak.
    IF NOT FOUND OR NOT app.can_view(m, c) THEN
        PERFORM app.raise('MS404', 'Map not found.');
    END IF;
    RETURN m;
END
$$;
COMMENT ON FUNCTION app.load_map(uuid, app.users) IS 'A map the caller may see; MS404 otherwise.';

CREATE OR REPLACE FUNCTION app.owner_name(p_owner uuid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT username FROM app.users WHERE id = p_owner
$$;
COMMENT ON FUNCTION app.owner_name(uuid) IS 'Username of a map owner.';

-- Map bboxes are stored within x -180..540: one across the antimeridian unwrapped, east past
-- 180 (app.bbox_of). A search box, unwrapped the same way when it crosses, meets such a box
-- iff it or its copy 360 degrees over does: the two boxes this returns, each served by the
-- GiST index (`m.bbox && b[1] OR m.bbox && b[2]`). A box crosses when west > east, or as
-- two boxes (8 numbers: west..180 and -180..east, the STAC API's split).
CREATE OR REPLACE FUNCTION app.query_boxes(p_bbox float8[]) RETURNS box[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_bbox IS NULL THEN NULL
        WHEN cardinality(p_bbox) = 8 THEN ARRAY[
            box(point(p_bbox[1], least(p_bbox[2], p_bbox[6])),
                point(p_bbox[7] + 360, greatest(p_bbox[4], p_bbox[8]))),
            box(point(p_bbox[1] - 360, least(p_bbox[2], p_bbox[6])),
                point(p_bbox[7], greatest(p_bbox[4], p_bbox[8])))]
        WHEN p_bbox[1] > p_bbox[3] THEN ARRAY[
            box(point(p_bbox[1], p_bbox[2]), point(p_bbox[3] + 360, p_bbox[4])),
            box(point(p_bbox[1] - 360, p_bbox[2]), point(p_bbox[3], p_bbox[4]))]
        ELSE ARRAY[
            box(point(p_bbox[1], p_bbox[2]), point(p_bbox[3], p_bbox[4])),
            box(point(p_bbox[1] + 360, p_bbox[2]), point(p_bbox[3] + 360, p_bbox[4]))]
    END
$$;
COMMENT ON FUNCTION app.query_boxes(float8[]) IS 'The two boxes a search bbox (4 numbers, or 8 split at the antimeridian) is tested against stored map bboxes with.';
