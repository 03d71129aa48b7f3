-- The event pipeline: register an upload (S3 event), claim / complete / reject / release /
-- fail processing (SQS). Every change is one conditional UPDATE: a duplicate is a no-op.

CREATE OR REPLACE FUNCTION api.register_upload(p_object_key text, p_size bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    m app.maps;
BEGIN
    SELECT * INTO m FROM app.maps WHERE object_key = p_object_key FOR UPDATE;
    IF NOT FOUND THEN
        -- Rows are created before any upload URL exists, so an object without one was deleted.
        RETURN jsonb_build_object('action', 'orphan');
    END IF;
    IF m.status = 'uploaded' THEN
        -- Registered (a direct upload, or a repeated event) but not processed yet: queue again.
        -- A job is a conditional claim, so an extra one is a no-op, and a lost one is healed.
        RETURN jsonb_build_object('action', 'enqueue', 'map_id', m.id, 'request_id', m.request_id);
    END IF;
    IF m.status <> 'awaiting_upload' THEN
        RETURN jsonb_build_object('action', 'noop', 'map_id', m.id, 'status', m.status,
                                  'request_id', m.request_id);
    END IF;
    IF p_size <> m.declared_size THEN
        UPDATE app.maps SET status = 'rejected', size = p_size, error_code = 'size_mismatch',
            error_message = format('Uploaded %s bytes, declared %s.', p_size, m.declared_size),
            uploaded_at = now(), processed_at = now(), updated_at = clock_timestamp()
        WHERE id = m.id;
        RETURN jsonb_build_object('action', 'rejected', 'map_id', m.id,
                                  'request_id', m.request_id);
    END IF;
    UPDATE app.maps SET status = 'uploaded', size = p_size, uploaded_at = now(),
        upload_expires_at = NULL, updated_at = clock_timestamp()
    WHERE id = m.id;
    RETURN jsonb_build_object('action', 'enqueue', 'map_id', m.id, 'request_id', m.request_id);
END
$$;
COMMENT ON FUNCTION api.register_upload(text, bigint)
    IS 'S3 event: awaiting_upload -> uploaded (enqueue) or rejected (size); later events change nothing.';

CREATE OR REPLACE FUNCTION api.claim_processing(p_id uuid, p_lease_seconds integer) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    m app.maps;
BEGIN
    -- A lease that ran out (the worker died or timed out) may be taken over; a live one may not.
    UPDATE app.maps SET status = 'processing', stage = 'inspect', lease_token = gen_random_uuid(),
        lease_until = now() + make_interval(secs => p_lease_seconds), attempts = attempts + 1,
        updated_at = clock_timestamp()
    WHERE id = p_id
      AND (status = 'uploaded' OR (status = 'processing' AND lease_until < now()))
    RETURNING * INTO m;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('claimed', false, 'status',
                                  (SELECT status FROM app.maps WHERE id = p_id));
    END IF;
    RETURN jsonb_build_object('claimed', true, 'lease_token', m.lease_token,
                              'object_key', m.object_key, 'declared_size', m.declared_size,
                              'declared_sha256', m.declared_sha256, 'request_id', m.request_id,
                              'attempts', m.attempts);
END
$$;
COMMENT ON FUNCTION api.claim_processing(uuid, integer)
    IS 'SQS: take the processing lease of an uploaded map (or an expired lease); claimed=false otherwise.';

CREATE OR REPLACE FUNCTION api.complete_processing(p_id uuid, p_lease_token uuid, p_size bigint,
                                                   p_sha256 text, p_format text,
                                                   p_media_type text, p_metadata jsonb,
                                                   p_bbox float8[]) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
BEGIN
    UPDATE app.maps SET status = 'ready', stage = NULL, size = p_size, sha256 = p_sha256,
        format = p_format, media_type = p_media_type, metadata = coalesce(p_metadata, '{}'),
        bbox = CASE WHEN p_bbox IS NULL THEN NULL
                    ELSE box(point(p_bbox[1], p_bbox[2]), point(p_bbox[3], p_bbox[4])) END,
        error_code = NULL, error_message = NULL, lease_token = NULL, lease_until = NULL,
        processed_at = now(), updated_at = clock_timestamp()
    WHERE id = p_id AND status = 'processing' AND lease_token = p_lease_token;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION api.complete_processing(uuid, uuid, bigint, text, text, text, jsonb, float8[])
    IS 'SQS: processing -> ready with checksum and metadata, if the lease is still ours.';

CREATE OR REPLACE FUNCTION api.finish_processing_error(p_id uuid, p_lease_token uuid,
                                                       p_status text, p_code text,
                                                       p_message text, p_size bigint,
                                                       p_sha256 text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
BEGIN
    IF p_status NOT IN ('rejected', 'failed') THEN
        PERFORM app.raise('MS400', 'status: must be rejected or failed.');
    END IF;
    -- With a lease token only the lease holder may end it; without one (the last SQS attempt
    -- or the dead-letter consumer) any unfinished map is ended.
    UPDATE app.maps SET status = p_status, stage = NULL, error_code = p_code,
        error_message = p_message, size = coalesce(p_size, size), sha256 = coalesce(p_sha256, sha256),
        lease_token = NULL, lease_until = NULL, processed_at = now(), updated_at = clock_timestamp()
    WHERE id = p_id
      AND CASE WHEN p_lease_token IS NOT NULL
               THEN status = 'processing' AND lease_token = p_lease_token
               ELSE status IN ('uploaded', 'processing') END;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION api.finish_processing_error(uuid, uuid, text, text, text, bigint, text)
    IS 'SQS: processing -> rejected (bad content) or failed (retries exhausted), with a reason.';

CREATE OR REPLACE FUNCTION api.release_processing(p_id uuid, p_lease_token uuid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
BEGIN
    -- A transient error: hand the map back so the SQS retry can claim it at once.
    UPDATE app.maps SET status = 'uploaded', stage = NULL, lease_token = NULL, lease_until = NULL,
        updated_at = clock_timestamp()
    WHERE id = p_id AND status = 'processing' AND lease_token = p_lease_token;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION api.release_processing(uuid, uuid) IS 'SQS: processing -> uploaded after a transient error, if the lease is ours.';

CREATE OR REPLACE FUNCTION api.health() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
    SELECT true
$$;
COMMENT ON FUNCTION api.health() IS 'The database answers.';
