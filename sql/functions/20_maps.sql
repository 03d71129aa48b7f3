-- Maps as members see them: create (both upload forms), read, download, edit, delete.

CREATE OR REPLACE FUNCTION api.create_map(p_caller uuid, p_token_version integer, p_id uuid,
                                          p_object_key text, p_title text, p_description text,
                                          p_filename text, p_visibility text, p_size bigint,
                                          p_sha256 text, p_direct boolean, p_request_id text,
                                          p_upload_ttl_seconds integer,
                                          p_default_quota_maps integer,
                                          p_default_quota_bytes bigint,
                                          p_multipart_upload_id text DEFAULT NULL,
                                          p_part_size bigint DEFAULT NULL,
                                          p_part_count integer DEFAULT NULL,
                                          p_part_checksum text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    c app.users := app.caller(p_caller, p_token_version);
    n bigint;
    total bigint;
    m app.maps;
BEGIN
    IF c.id IS NULL THEN
        PERFORM app.raise('MS401', 'Log in to upload maps.');
    END IF;
    PERFORM app.require_active_uploader(c);
    -- The user row lock serialises concurrent uploads of one member, so the quota holds.
    PERFORM 1 FROM app.users WHERE id = c.id FOR UPDATE;
    SELECT count(*), coalesce(sum(coalesce(size, declared_size)), 0) INTO n, total
    FROM app.maps WHERE owner_id = c.id;
    IF n + 1 > coalesce(c.quota_maps, p_default_quota_maps) THEN
        PERFORM app.raise('MSQTA', 'Map quota reached: delete a map or ask for a larger quota.');
    END IF;
    IF total + p_size > coalesce(c.quota_bytes, p_default_quota_bytes) THEN
        PERFORM app.raise('MSQTA', 'Storage quota reached: this upload does not fit.');
    END IF;
    INSERT INTO app.maps (id, owner_id, title, description, filename, visibility, status,
                          declared_size, declared_sha256, size, object_key, request_id,
                          upload_expires_at, uploaded_at, multipart_upload_id, part_size,
                          part_count, part_checksum)
    VALUES (p_id, c.id, p_title, coalesce(p_description, ''), p_filename,
            coalesce(p_visibility, 'private'),
            CASE WHEN p_direct THEN 'uploaded' ELSE 'awaiting_upload' END,
            p_size, p_sha256, CASE WHEN p_direct THEN p_size END, p_object_key, p_request_id,
            CASE WHEN p_direct THEN NULL ELSE now() + make_interval(secs => p_upload_ttl_seconds) END,
            CASE WHEN p_direct THEN now() END, p_multipart_upload_id, p_part_size, p_part_count,
            p_part_checksum)
    RETURNING * INTO m;
    RETURN app.map_doc(m, c.username);
END
$$;
COMMENT ON FUNCTION api.create_map(uuid, integer, uuid, text, text, text, text, text, bigint, text, boolean, text, integer, integer, bigint, text, bigint, integer, text)
    IS 'Active members: a new map, uploaded (direct) or awaiting its presigned POST or multipart upload; enforces quota (pending uploads count).';

CREATE OR REPLACE FUNCTION api.get_map(p_caller uuid, p_token_version integer, p_id uuid)
RETURNS json
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    c app.users;
    doc json;
BEGIN
    -- The most frequent read of all, kept cheap: a guest needs no caller lookup, and the map
    -- is one index probe returning the document the row keeps (app.maps.doc, migration 014).
    IF p_caller IS NOT NULL THEN
        c := app.caller(p_caller, p_token_version);
    END IF;
    SELECT m.doc INTO doc FROM app.maps m WHERE m.id = p_id AND app.can_view(m, c);
    IF NOT FOUND THEN
        PERFORM app.raise('MS404', 'Map not found.');  -- not allowed looks exactly like missing
    END IF;
    RETURN doc;
END
$$;
COMMENT ON FUNCTION api.get_map(uuid, integer, uuid) IS 'A map the caller may see; MS404 otherwise.';

CREATE OR REPLACE FUNCTION api.download_target(p_caller uuid, p_token_version integer, p_id uuid,
                                               p_variant text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    m app.maps := app.load_map(p_id, app.caller(p_caller, p_token_version));
BEGIN
    IF m.status <> 'ready' THEN
        PERFORM app.raise('MSNRD', format('Map is %s, not ready for download.', m.status));
    END IF;
    IF p_variant = 'optimized' AND m.variant_key IS NULL THEN
        PERFORM app.raise('MS404', 'This map has no optimized variant.');
    END IF;
    -- The optimized variant is the default download when there is one; 'original' is the upload.
    IF coalesce(p_variant, 'optimized') = 'optimized' AND m.variant_key IS NOT NULL THEN
        RETURN jsonb_build_object('object_key', m.variant_key,
                                  'filename', app.variant_filename(m.filename, m.variant_kind),
                                  'media_type', m.variant_media_type,
                                  'content_encoding', m.variant_encoding, 'variant', 'optimized');
    END IF;
    RETURN jsonb_build_object('object_key', m.object_key, 'version', m.object_version,
                              'filename', m.filename, 'media_type', m.media_type,
                              'content_encoding', NULL, 'variant', 'original');
END
$$;
COMMENT ON FUNCTION api.download_target(uuid, integer, uuid, text) IS 'What to presign for a download, counting nothing (HEAD asks what GET would get); MS404, MSNRD.';

CREATE OR REPLACE FUNCTION api.record_download(p_caller uuid, p_token_version integer, p_id uuid,
                                               p_variant text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    target jsonb := api.download_target(p_caller, p_token_version, p_id, p_variant);
BEGIN
    UPDATE app.maps SET download_count = download_count + 1 WHERE id = p_id;
    RETURN target;
END
$$;
COMMENT ON FUNCTION api.record_download(uuid, integer, uuid, text) IS 'Count a download and return what to presign (api.download_target); MS404, MSNRD.';

CREATE OR REPLACE FUNCTION app.load_managed_map(p_caller uuid, p_token_version integer, p_id uuid)
RETURNS app.maps
LANGUAGE plpgsql AS $$
DECLARE
    c app.users := app.caller(p_caller, p_token_version);
    m app.maps;
BEGIN
    IF c.id IS NULL THEN
        PERFORM app.raise('MS401', 'Authentication required.');
    END IF;
    m := app.load_map(p_id, c);
    IF NOT app.can_manage(m, c) THEN
        PERFORM app.raise('MS403', 'Only the owner or an admin may change this map.');
    END IF;
    PERFORM 1 FROM app.maps WHERE id = p_id FOR UPDATE;
    RETURN m;
END
$$;
COMMENT ON FUNCTION app.load_managed_map(uuid, integer, uuid) IS 'A map the caller may edit, locked; MS401/MS404/MS403.';

CREATE OR REPLACE FUNCTION api.update_map(p_caller uuid, p_token_version integer, p_id uuid,
                                          p_title text, p_description text, p_visibility text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    m app.maps := app.load_managed_map(p_caller, p_token_version, p_id);
BEGIN
    UPDATE app.maps SET
        title = coalesce(p_title, title),
        description = coalesce(p_description, description),
        visibility = coalesce(p_visibility, visibility),
        updated_at = clock_timestamp()
    WHERE id = m.id
    RETURNING * INTO m;
    RETURN app.map_doc(m, app.owner_name(m.owner_id));
END
$$;
COMMENT ON FUNCTION api.update_map(uuid, integer, uuid, text, text, text) IS 'Owner/admin: change title, description, visibility (NULL keeps).';

CREATE OR REPLACE FUNCTION api.delete_map(p_caller uuid, p_token_version integer, p_id uuid)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    m app.maps := app.load_managed_map(p_caller, p_token_version, p_id);
BEGIN
    DELETE FROM app.maps WHERE id = m.id;
    RETURN jsonb_build_object('id', m.id, 'object_key', m.object_key);
END
$$;
COMMENT ON FUNCTION api.delete_map(uuid, integer, uuid) IS 'Owner/admin: delete a map; returns what the caller removes from storage.';

CREATE OR REPLACE FUNCTION api.preview_target(p_caller uuid, p_token_version integer, p_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    m app.maps := app.load_map(p_id, app.caller(p_caller, p_token_version));
BEGIN
    IF m.status <> 'ready' OR m.preview_key IS NULL THEN
        PERFORM app.raise('MS404', 'This map has no preview.');
    END IF;
    RETURN jsonb_build_object('object_key', m.preview_key, 'media_type', m.preview_media_type);
END
$$;
COMMENT ON FUNCTION api.preview_target(uuid, integer, uuid) IS 'What to presign for a map''s preview (the map''s visibility); MS404 when none.';
