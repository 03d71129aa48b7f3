-- The event pipeline: register an upload (S3 event), claim / complete / reject / release /
-- fail processing (SQS). Every change is one conditional UPDATE: a duplicate is a no-op.
-- In their own schema, executable only by mapstock_pipeline: the API's role cannot complete,
-- fail or sweep maps, and the pipeline's cannot act for a member.
-- An UPDATE that sets a final status (ready, rejected, failed) also ends the job, by the
-- trigger maps_end_job (app.end_job, migration 012): lease, stage and external deadline are
-- cleared and processed_at set, so the functions below state only the status and the reason.

CREATE OR REPLACE FUNCTION pipeline.register_upload(p_object_key text, p_size bigint,
                                                    p_version text, p_etag text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    m app.maps;
BEGIN
    SELECT * INTO m FROM app.maps WHERE object_key = p_object_key FOR UPDATE;
    IF NOT FOUND THEN
        -- Rows are created before any upload URL exists, so an object without one was deleted.
        RETURN jsonb_build_object('action', 'orphan');
    END IF;
    -- An upload slot outlives a subscription (S3 takes a presigned POST, or completes parts,
    -- for as long as the slot is valid, whatever the API would now say): bytes arriving after
    -- the owner stopped being active are never registered. The map ends rejected, and the
    -- caller removes the bytes; the same slot used again is removed too.
    IF (m.status = 'awaiting_upload'
        AND NOT app.is_active((SELECT u FROM app.users u WHERE u.id = m.owner_id)))
       OR (m.status = 'rejected' AND m.error_code = 'subscription_inactive') THEN
        UPDATE app.maps SET status = 'rejected', size = p_size,
            error_code = 'subscription_inactive',
            error_message = 'The file arrived after your subscription ended, so it was not kept; upload it again while your subscription is active.',
            object_version = p_version, object_etag = p_etag, upload_expires_at = NULL,
            uploaded_at = now(), updated_at = clock_timestamp()
        WHERE id = m.id AND status = 'awaiting_upload';
        RETURN jsonb_build_object('action', 'discard', 'map_id', m.id,
                                  'request_id', m.request_id);
    END IF;
    -- Once pinned, the map is that object: any other version under its key is stray bytes
    -- (a presigned POST used again while its policy was still valid), never the map's.
    IF m.object_version IS NOT NULL AND p_version IS DISTINCT FROM m.object_version THEN
        RETURN jsonb_build_object('action', 'stray', 'map_id', m.id, 'status', m.status,
                                  'version', m.object_version, 'request_id', m.request_id);
    END IF;
    IF m.object_version IS NULL AND m.object_etag IS NOT NULL AND p_version IS NULL
       AND p_etag IS DISTINCT FROM m.object_etag THEN
        -- An unversioned bucket: the registered bytes were overwritten and are gone. Never
        -- let the new bytes pass as the checked map: it ends rejected (a new upload is needed).
        UPDATE app.maps SET status = 'rejected', error_code = 'object_replaced',
            error_message = 'The stored file was overwritten after it was registered; upload it again.',
            updated_at = clock_timestamp()
        WHERE id = m.id AND status <> 'rejected';
        RETURN jsonb_build_object('action', 'replaced', 'map_id', m.id,
                                  'request_id', m.request_id);
    END IF;
    IF m.status = 'uploaded' THEN
        -- Registered (a direct upload, or a repeated event) but not processed yet: queue again.
        -- A job is a conditional claim, so an extra one is a no-op, and a lost one is healed.
        UPDATE app.maps SET object_version = coalesce(object_version, p_version),
            object_etag = coalesce(object_etag, p_etag)
        WHERE id = m.id AND (object_version IS NULL AND object_etag IS NULL);
        RETURN jsonb_build_object('action', 'enqueue', 'map_id', m.id, 'request_id', m.request_id,
                                  'version', coalesce(m.object_version, p_version));
    END IF;
    IF m.status <> 'awaiting_upload' THEN
        RETURN jsonb_build_object('action', 'noop', 'map_id', m.id, 'status', m.status,
                                  'version', coalesce(m.object_version, p_version),
                                  'request_id', m.request_id);
    END IF;
    IF p_size <> m.declared_size THEN
        UPDATE app.maps SET status = 'rejected', size = p_size, error_code = 'size_mismatch',
            error_message = format('Uploaded %s bytes, declared %s.', p_size, m.declared_size),
            object_version = p_version, object_etag = p_etag,
            uploaded_at = now(), updated_at = clock_timestamp()
        WHERE id = m.id;
        RETURN jsonb_build_object('action', 'rejected', 'map_id', m.id,
                                  'request_id', m.request_id, 'version', p_version);
    END IF;
    UPDATE app.maps SET status = 'uploaded', size = p_size, uploaded_at = now(),
        object_version = p_version, object_etag = p_etag,
        upload_expires_at = NULL, updated_at = clock_timestamp()
    WHERE id = m.id;
    RETURN jsonb_build_object('action', 'enqueue', 'map_id', m.id, 'request_id', m.request_id,
                              'version', p_version);
END
$$;
COMMENT ON FUNCTION pipeline.register_upload(text, bigint, text, text)
    IS 'S3 event: awaiting_upload -> uploaded (enqueue, pinning the object version) or rejected (size; or the owner no longer active: discard the bytes); a version other than the pinned one is stray.';

CREATE OR REPLACE FUNCTION pipeline.claim_processing(p_id uuid, p_lease_seconds integer) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    m app.maps;
BEGIN
    -- A lease that ran out (the worker died or timed out) may be taken over; a live one may not.
    -- A map handed to the external system is not ours to take back: the sweeper times it out.
    UPDATE app.maps SET status = 'processing', stage = 'download', progress = 0,
        lease_token = gen_random_uuid(),
        lease_until = now() + make_interval(secs => p_lease_seconds), attempts = attempts + 1,
        updated_at = clock_timestamp()
    WHERE id = p_id
      AND (status = 'uploaded'
           OR (status = 'processing' AND lease_until < now()
               AND stage IS DISTINCT FROM 'external'))
    RETURNING * INTO m;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('claimed', false, 'status',
                                  (SELECT status FROM app.maps WHERE id = p_id));
    END IF;
    RETURN jsonb_build_object('claimed', true, 'lease_token', m.lease_token,
                              'object_key', m.object_key, 'object_version', m.object_version,
                              'object_etag', m.object_etag, 'declared_size', m.declared_size,
                              'declared_sha256', m.declared_sha256, 'request_id', m.request_id,
                              'attempts', m.attempts);
END
$$;
COMMENT ON FUNCTION pipeline.claim_processing(uuid, integer)
    IS 'SQS: take the processing lease of an uploaded map (or an expired lease); claimed=false otherwise.';

CREATE OR REPLACE FUNCTION app.bbox_of(p_bbox float8[]) RETURNS box
LANGUAGE sql IMMUTABLE AS $$
    -- A bbox across the antimeridian (west > east, RFC 7946 5.2) is stored unwrapped, its
    -- east past 180 (170..190): one box, which app.query_boxes' shifted copy meets.
    SELECT CASE WHEN p_bbox IS NULL THEN NULL
                WHEN p_bbox[1] > p_bbox[3]
                    THEN box(point(p_bbox[1], p_bbox[2]), point(p_bbox[3] + 360, p_bbox[4]))
                ELSE box(point(p_bbox[1], p_bbox[2]), point(p_bbox[3], p_bbox[4])) END
$$;
COMMENT ON FUNCTION app.bbox_of(float8[]) IS 'A box from [minx, miny, maxx, maxy]; across the antimeridian (minx > maxx) with maxx + 360.';

CREATE OR REPLACE FUNCTION pipeline.complete_processing(p_id uuid, p_lease_token uuid, p_size bigint,
                                                        p_sha256 text, p_format text,
                                                        p_media_type text, p_metadata jsonb,
                                                        p_bbox float8[], p_variant jsonb DEFAULT NULL,
                                                        p_preview jsonb DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
BEGIN
    -- p_size/p_sha256/format/metadata NULL keep what an earlier step recorded (external jobs).
    UPDATE app.maps SET status = 'ready',
        size = coalesce(p_size, size), sha256 = coalesce(p_sha256, sha256),
        format = coalesce(p_format, format), media_type = coalesce(p_media_type, media_type),
        metadata = coalesce(p_metadata, metadata),
        bbox = CASE WHEN p_metadata IS NULL THEN bbox ELSE app.bbox_of(p_bbox) END,
        variant_key = p_variant ->> 'key', variant_kind = p_variant ->> 'kind',
        variant_size = (p_variant ->> 'size')::bigint, variant_sha256 = p_variant ->> 'sha256',
        variant_media_type = p_variant ->> 'media_type',
        variant_encoding = p_variant ->> 'content_encoding',
        -- No preview given (an external result) keeps the one the first step made.
        preview_key = coalesce(p_preview ->> 'key', preview_key),
        preview_width = coalesce((p_preview ->> 'width')::integer, preview_width),
        preview_height = coalesce((p_preview ->> 'height')::integer, preview_height),
        preview_media_type = coalesce(p_preview ->> 'media_type', preview_media_type),
        preview_size = coalesce((p_preview ->> 'size')::bigint, preview_size),
        updated_at = clock_timestamp()
    WHERE id = p_id AND status = 'processing' AND lease_token = p_lease_token;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION pipeline.complete_processing(uuid, uuid, bigint, text, text, text, jsonb, float8[], jsonb, jsonb)
    IS 'SQS: processing -> ready with checksum, metadata, optional optimized variant and preview, if the lease is ours.';

CREATE OR REPLACE FUNCTION pipeline.set_progress(p_id uuid, p_lease_token uuid, p_stage text,
                                                 p_progress integer) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
BEGIN
    UPDATE app.maps SET stage = p_stage, progress = p_progress, updated_at = clock_timestamp()
    WHERE id = p_id AND status = 'processing' AND lease_token = p_lease_token;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION pipeline.set_progress(uuid, uuid, text, integer) IS 'SQS: show the stage and percent of a running job.';

CREATE OR REPLACE FUNCTION pipeline.holds_lease(p_id uuid, p_lease_token uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
    -- A read, not a write: a running job asks this every few seconds (PROBE_SECONDS).
    SELECT EXISTS (SELECT 1 FROM app.maps WHERE id = p_id AND status = 'processing'
                                              AND lease_token = p_lease_token)
$$;
COMMENT ON FUNCTION pipeline.holds_lease(uuid, uuid)
    IS 'SQS: whether a running job still holds its map (false once the map is deleted or its lease taken over).';

CREATE OR REPLACE FUNCTION pipeline.hand_off_external(p_id uuid, p_lease_token uuid, p_size bigint,
                                                      p_sha256 text, p_format text, p_media_type text,
                                                      p_metadata jsonb, p_bbox float8[],
                                                      p_job_id uuid, p_timeout_seconds integer,
                                                      p_preview jsonb DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
BEGIN
    -- Inspection results (and the preview drawn from the original) are kept now; the map
    -- turns ready when the external result arrives.
    UPDATE app.maps SET stage = 'external', progress = NULL, size = p_size, sha256 = p_sha256,
        format = p_format, media_type = p_media_type, metadata = coalesce(p_metadata, '{}'),
        bbox = app.bbox_of(p_bbox), external_job_id = p_job_id,
        preview_key = p_preview ->> 'key',
        preview_width = (p_preview ->> 'width')::integer,
        preview_height = (p_preview ->> 'height')::integer,
        preview_media_type = p_preview ->> 'media_type',
        preview_size = (p_preview ->> 'size')::bigint,
        external_deadline = now() + make_interval(secs => p_timeout_seconds),
        lease_token = NULL, lease_until = NULL, updated_at = clock_timestamp()
    WHERE id = p_id AND status = 'processing' AND lease_token = p_lease_token;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION pipeline.hand_off_external(uuid, uuid, bigint, text, text, text, jsonb, float8[], uuid, integer, jsonb)
    IS 'SQS: record inspection and the preview, and wait for the external system''s result (stage external).';

CREATE OR REPLACE FUNCTION pipeline.claim_external_result(p_id uuid, p_job_id uuid,
                                                          p_lease_seconds integer) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    m app.maps;
BEGIN
    UPDATE app.maps SET stage = 'finalize', lease_token = gen_random_uuid(),
        lease_until = now() + make_interval(secs => p_lease_seconds),
        updated_at = clock_timestamp()
    WHERE id = p_id AND status = 'processing' AND external_job_id = p_job_id
      AND (stage = 'external' OR (stage = 'finalize' AND lease_until < now()))
    RETURNING * INTO m;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('claimed', false);
    END IF;
    -- sha256 NULL: the source was too large to hash in Lambda; the result reports it.
    RETURN jsonb_build_object('claimed', true, 'lease_token', m.lease_token,
                              'request_id', m.request_id, 'media_type', m.media_type,
                              'format', m.format, 'sha256', m.sha256,
                              'declared_sha256', m.declared_sha256, 'metadata', m.metadata);
END
$$;
COMMENT ON FUNCTION pipeline.claim_external_result(uuid, uuid, integer)
    IS 'SQS: take the lease to verify and publish an external job''s result; claimed=false for stale jobs.';

CREATE OR REPLACE FUNCTION pipeline.return_to_external(p_id uuid, p_lease_token uuid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
BEGIN
    -- The result did not verify: keep waiting (until the deadline) for a correct one.
    UPDATE app.maps SET stage = 'external', lease_token = NULL, lease_until = NULL,
        updated_at = clock_timestamp()
    WHERE id = p_id AND status = 'processing' AND lease_token = p_lease_token;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION pipeline.return_to_external(uuid, uuid) IS 'SQS: an external result failed verification; wait on.';

CREATE OR REPLACE FUNCTION pipeline.fail_external(p_id uuid, p_job_id uuid, p_code text, p_message text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
BEGIN
    UPDATE app.maps SET status = 'failed', error_code = p_code, error_message = p_message,
        updated_at = clock_timestamp()
    WHERE id = p_id AND status = 'processing' AND external_job_id = p_job_id
      AND stage IN ('external', 'finalize');
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION pipeline.fail_external(uuid, uuid, text, text) IS 'S3 event: the external system reported failure for its job.';

CREATE OR REPLACE FUNCTION pipeline.fail_dead_letter(p_id uuid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
BEGIN
    -- Its job gave up after every retry. A map a worker still holds a live lease on is left
    -- to that worker (and to the sweeper should the worker die).
    UPDATE app.maps SET status = 'failed', error_code = 'processing_failed',
        error_message = 'Processing failed after repeated attempts; the upload was kept.',
        updated_at = clock_timestamp()
    WHERE id = p_id
      AND (status = 'uploaded'
           OR (status = 'processing' AND stage IS DISTINCT FROM 'external'
               AND coalesce(lease_until < now(), true)));
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION pipeline.fail_dead_letter(uuid) IS 'DLQ: end a map whose job exhausted its retries as failed, unless a worker holds it.';

CREATE OR REPLACE FUNCTION pipeline.sweep(p_upload_grace_seconds integer, p_stall_seconds integer,
                                          p_max_attempts integer) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    timed_out integer;
    gave_up integer;
    expired uuid[];
    requeue uuid[];
BEGIN
    -- Jobs lost (never queued, or a worker died and its message is still invisible): end the
    -- ones out of attempts, queue the others again (a duplicate job is a no-op claim).
    UPDATE app.maps SET status = 'failed', error_code = 'processing_failed',
        error_message = 'Processing failed after repeated attempts; the upload was kept.',
        updated_at = clock_timestamp()
    WHERE attempts >= p_max_attempts
      AND ((status = 'processing' AND stage IS DISTINCT FROM 'external'
            AND lease_until < now() - make_interval(secs => p_stall_seconds))
           OR (status = 'uploaded' AND updated_at < now() - make_interval(secs => p_stall_seconds)));
    GET DIAGNOSTICS gave_up = ROW_COUNT;
    SELECT coalesce(array_agg(id), '{}') INTO requeue FROM app.maps
    WHERE (status = 'processing' AND stage IS DISTINCT FROM 'external'
           AND lease_until < now() - make_interval(secs => p_stall_seconds))
       OR (status = 'uploaded' AND updated_at < now() - make_interval(secs => p_stall_seconds));

    UPDATE app.maps SET status = 'failed', error_code = 'external_timeout',
        error_message = 'The external processing did not finish in time.',
        updated_at = clock_timestamp()
    WHERE status = 'processing' AND stage = 'external' AND external_deadline < now();
    GET DIAGNOSTICS timed_out = ROW_COUNT;
    -- Presigned uploads never used: the row goes (releasing the quota); a late object is an
    -- orphan the S3 handler removes.
    WITH gone AS (
        DELETE FROM app.maps WHERE status = 'awaiting_upload'
          AND upload_expires_at < now() - make_interval(secs => p_upload_grace_seconds)
        RETURNING id)
    SELECT coalesce(array_agg(id), '{}') INTO expired FROM gone;
    DELETE FROM app.login_throttle WHERE window_start < now() - interval '1 day';
    RETURN jsonb_build_object('timed_out', timed_out, 'expired_uploads', to_jsonb(expired),
                              'requeue', to_jsonb(requeue), 'gave_up', gave_up);
END
$$;
COMMENT ON FUNCTION pipeline.sweep(integer, integer, integer)
    IS 'Schedule: time out external jobs, drop unused upload slots, requeue or end stalled jobs. Idempotent.';

CREATE OR REPLACE FUNCTION pipeline.finish_processing_error(p_id uuid, p_lease_token uuid,
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
    UPDATE app.maps SET status = p_status, error_code = p_code, error_message = p_message,
        size = coalesce(p_size, size), sha256 = coalesce(p_sha256, sha256),
        updated_at = clock_timestamp()
    WHERE id = p_id
      AND CASE WHEN p_lease_token IS NOT NULL
               THEN status = 'processing' AND lease_token = p_lease_token
               ELSE status IN ('uploaded', 'processing') END;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION pipeline.finish_processing_error(uuid, uuid, text, text, text, bigint, text)
    IS 'SQS: processing -> rejected (bad content) or failed (retries exhausted), with a reason.';

CREATE OR REPLACE FUNCTION pipeline.release_processing(p_id uuid, p_lease_token uuid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
BEGIN
    -- A transient error: hand the map back so the SQS retry can claim it at once.
    UPDATE app.maps SET status = 'uploaded', stage = NULL, lease_token = NULL, lease_until = NULL,
        updated_at = clock_timestamp()
    WHERE id = p_id AND status = 'processing' AND lease_token = p_lease_token;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION pipeline.release_processing(uuid, uuid) IS 'SQS: processing -> uploaded after a transient error, if the lease is ours.';

CREATE OR REPLACE FUNCTION pipeline.existing_maps(p_ids text[]) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
    SELECT coalesce(jsonb_agg(id), '[]') FROM app.maps WHERE id = ANY (p_ids::uuid[])
$$;
COMMENT ON FUNCTION pipeline.existing_maps(text[]) IS 'Orphan sweep: which of these map ids still have a row.';

CREATE OR REPLACE FUNCTION ops.repin_object_versions(p_objects jsonb) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
    WITH moved AS (
        UPDATE app.maps m SET object_version = o.new
        FROM jsonb_to_recordset(p_objects) AS o(key text, old text, new text)
        WHERE m.object_key = o.key AND m.object_version IS NOT DISTINCT FROM o.old
          AND o.new IS NOT NULL
        RETURNING 1)
    SELECT count(*)::integer FROM moved
$$;
COMMENT ON FUNCTION ops.repin_object_versions(jsonb)
    IS 'make run: the local bucket was restored from disk; maps now name the restored versions [{key, old, new}].';
