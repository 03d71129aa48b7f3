-- Issue 14: a preview image per map, an S3 object next to the map's others.
ALTER TABLE app.maps
    ADD COLUMN preview_key        text,
    ADD COLUMN preview_width      integer CHECK (preview_width BETWEEN 1 AND 512),
    ADD COLUMN preview_height     integer CHECK (preview_height BETWEEN 1 AND 512),
    ADD COLUMN preview_media_type text CHECK (preview_media_type IN ('image/png', 'image/webp')),
    ADD COLUMN preview_size       bigint CHECK (preview_size >= 0);
