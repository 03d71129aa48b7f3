-- Issue 11: a map is the exact object version that was registered and processed. A presigned
-- POST stays valid for its whole TTL, so its owner could POST other bytes to the same key after
-- the map is ready; with bucket versioning those bytes are a new version that nothing serves
-- (the S3 handler deletes it), and every read and download names the pinned version.
ALTER TABLE app.maps
    ADD COLUMN object_version text CHECK (length(object_version) BETWEEN 1 AND 1024),
    ADD COLUMN object_etag    text CHECK (length(object_etag) BETWEEN 1 AND 256);
