-- Issue 13: a multipart upload may be created with S3's SHA-256 part checksums. S3 then wants
-- every part's checksum, signed into its part URL, so the API must know the upload's choice.
ALTER TABLE app.maps
    ADD COLUMN part_checksum text CHECK (part_checksum = 'SHA256'),
    ADD CONSTRAINT maps_part_checksum_multipart CHECK (
        part_checksum IS NULL OR multipart_upload_id IS NOT NULL);
