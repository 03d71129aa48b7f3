-- Multipart uploads as their owner drives them: the upload's shape, finishing, aborting.

CREATE OR REPLACE FUNCTION app.multipart_map(p_caller uuid, p_token_version integer, p_id uuid,
                                             p_owner_only boolean)
RETURNS app.maps
LANGUAGE plpgsql AS $$
DECLARE
    m app.maps := app.load_managed_map(p_caller, p_token_version, p_id);
BEGIN
    -- Only the owner sends the bytes (presigned part URLs, completing): an admin may look at
    -- and abort an upload, never put content into someone else's map.
    IF p_owner_only AND m.owner_id IS DISTINCT FROM p_caller THEN
        PERFORM app.raise('MS403', 'Only the owner may upload this map''s content.');
    END IF;
    -- Sending bytes is uploading: a member whose subscription ended since the upload began
    -- (deactivated, or active_until passed) may look at it and abort it, never go on.
    IF p_owner_only THEN
        PERFORM app.require_active_uploader(app.caller(p_caller, p_token_version));
    END IF;
    IF m.multipart_upload_id IS NULL THEN
        PERFORM app.raise('MS409', 'This map was not created as a multipart upload.');
    END IF;
    IF m.status <> 'awaiting_upload' THEN
        PERFORM app.raise('MS409', format('The upload is finished: the map is %s.', m.status));
    END IF;
    RETURN m;
END
$$;
COMMENT ON FUNCTION app.multipart_map(uuid, integer, uuid, boolean) IS 'The caller''s map still awaiting its multipart upload, locked (the owner''s alone, and only while active, when p_owner_only); MS401/MS404/MS403/MSSUB/MS409.';

CREATE OR REPLACE FUNCTION api.multipart_upload(p_caller uuid, p_token_version integer, p_id uuid,
                                                p_owner_only boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    m app.maps := app.multipart_map(p_caller, p_token_version, p_id, p_owner_only);
BEGIN
    RETURN jsonb_build_object('object_key', m.object_key, 'upload_id', m.multipart_upload_id,
                              'size', m.declared_size, 'part_size', m.part_size,
                              'part_count', m.part_count, 'checksum_algorithm', m.part_checksum,
                              'expires_at', app.iso(m.upload_expires_at));
END
$$;
COMMENT ON FUNCTION api.multipart_upload(uuid, integer, uuid, boolean) IS 'Owner/admin (owner only with p_owner_only, to upload parts): the shape of a map''s unfinished multipart upload; MS403/MS404/MS409.';

CREATE OR REPLACE FUNCTION api.multipart_completion(p_caller uuid, p_token_version integer,
                                                    p_id uuid)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    m app.maps := app.load_managed_map(p_caller, p_token_version, p_id);
BEGIN
    IF m.owner_id IS DISTINCT FROM p_caller THEN
        PERFORM app.raise('MS403', 'Only the owner may upload this map''s content.');
    END IF;
    PERFORM app.require_active_uploader(app.caller(p_caller, p_token_version));
    IF m.multipart_upload_id IS NULL THEN
        PERFORM app.raise('MS409', 'This map was not created as a multipart upload.');
    END IF;
    -- A completion repeated (its answer was lost) or racing another one finds the map past
    -- awaiting_upload: the route compares the object's ETag with the parts it is given and
    -- answers as the first completion did, instead of refusing it.
    RETURN jsonb_build_object('status', m.status, 'object_key', m.object_key,
                              'upload_id', m.multipart_upload_id, 'size', m.declared_size,
                              'part_size', m.part_size, 'part_count', m.part_count,
                              'checksum_algorithm', m.part_checksum,
                              'object_etag', m.object_etag,
                              'map', CASE WHEN m.status <> 'awaiting_upload'
                                          THEN app.map_doc(m, app.owner_name(m.owner_id)) END);
END
$$;
COMMENT ON FUNCTION api.multipart_completion(uuid, integer, uuid) IS 'Owner only, while active: a multipart upload''s shape to complete it, its status, and once past awaiting_upload the stored object''s ETag and the map; MS403/MS404/MSSUB/MS409 (not multipart).';

CREATE OR REPLACE FUNCTION api.finish_multipart(p_caller uuid, p_token_version integer, p_id uuid,
                                                p_size bigint, p_version text, p_etag text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    m app.maps := app.load_managed_map(p_caller, p_token_version, p_id);
BEGIN
    IF m.owner_id IS DISTINCT FROM p_caller THEN  -- the route checked first; kept as the rule
        PERFORM app.raise('MS403', 'Only the owner may upload this map''s content.');
    END IF;
    PERFORM app.require_active_uploader(app.caller(p_caller, p_token_version));
    -- S3 assembled the object: the same transition (and pin) as its S3 event makes, which may
    -- have come first; the event then queues the job.
    UPDATE app.maps SET status = 'uploaded', size = p_size, uploaded_at = now(),
        object_version = p_version, object_etag = p_etag, upload_expires_at = NULL,
        updated_at = clock_timestamp()
    WHERE id = m.id AND status = 'awaiting_upload'
    RETURNING * INTO m;
    IF NOT FOUND THEN
        SELECT * INTO m FROM app.maps WHERE id = p_id;
    END IF;
    RETURN app.map_doc(m, app.owner_name(m.owner_id));
END
$$;
COMMENT ON FUNCTION api.finish_multipart(uuid, integer, uuid, bigint, text, text) IS 'Owner only, while active: the multipart upload was completed in S3: awaiting_upload -> uploaded, pinned; MS403 for anyone else, MSSUB when inactive.';

CREATE OR REPLACE FUNCTION api.abort_multipart(p_caller uuid, p_token_version integer, p_id uuid)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    m app.maps := app.multipart_map(p_caller, p_token_version, p_id, false);
BEGIN
    DELETE FROM app.maps WHERE id = m.id;
    RETURN jsonb_build_object('id', m.id, 'object_key', m.object_key,
                              'upload_id', m.multipart_upload_id);
END
$$;
COMMENT ON FUNCTION api.abort_multipart(uuid, integer, uuid) IS 'Owner/admin: give up an unfinished multipart upload; the map goes (the caller aborts it in S3).';
