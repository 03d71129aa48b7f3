-- Issue 13: uploads of any size as S3 multipart uploads, resumable from any client.
ALTER TABLE app.maps
    ADD COLUMN multipart_upload_id text CHECK (length(multipart_upload_id) BETWEEN 1 AND 1024),
    ADD COLUMN part_size           bigint CHECK (part_size > 0),
    ADD COLUMN part_count          integer CHECK (part_count BETWEEN 1 AND 10000),
    ADD CONSTRAINT maps_multipart_shape CHECK (
        (multipart_upload_id IS NULL) = (part_size IS NULL)
        AND (part_size IS NULL) = (part_count IS NULL));
