-- Issue 4: an optimized variant next to the original, progress, and the external long-job hand-off.
ALTER TABLE app.maps
    ADD COLUMN variant_key        text,
    ADD COLUMN variant_kind       text CHECK (variant_kind IN ('cog', 'gzip')),
    ADD COLUMN variant_size       bigint CHECK (variant_size >= 0),
    ADD COLUMN variant_sha256     text CHECK (variant_sha256 ~ '^[0-9a-f]{64}$'),
    ADD COLUMN variant_media_type text,
    ADD COLUMN variant_encoding   text,
    ADD COLUMN progress           smallint CHECK (progress BETWEEN 0 AND 100),
    ADD COLUMN external_job_id    uuid,
    ADD COLUMN external_deadline  timestamptz;

CREATE INDEX maps_external_deadline ON app.maps (external_deadline)
    WHERE status = 'processing' AND stage = 'external';
CREATE INDEX maps_upload_expiry ON app.maps (upload_expires_at) WHERE status = 'awaiting_upload';
