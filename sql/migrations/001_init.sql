-- Tables live in the private `app` schema; Python reaches them only through `api.*` functions.
CREATE SCHEMA IF NOT EXISTS app;
CREATE SCHEMA IF NOT EXISTS api;
CREATE SCHEMA IF NOT EXISTS ops;

CREATE TABLE app.users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username       text NOT NULL CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$'),
    password_hash  text NOT NULL,
    role           text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin')),
    active_until   timestamptz,
    token_version  integer NOT NULL DEFAULT 1,
    quota_maps     integer CHECK (quota_maps >= 0),
    quota_bytes    bigint CHECK (quota_bytes >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON app.users (lower(username));

CREATE TABLE app.maps (
    id                uuid PRIMARY KEY,
    owner_id          uuid NOT NULL REFERENCES app.users (id),
    title             text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description       text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    filename          text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    visibility        text NOT NULL DEFAULT 'private'
                      CHECK (visibility IN ('private', 'members', 'public')),
    status            text NOT NULL
                      CHECK (status IN ('awaiting_upload', 'uploaded', 'processing', 'ready',
                                        'rejected', 'failed')),
    declared_size     bigint NOT NULL CHECK (declared_size >= 0),
    declared_sha256   text CHECK (declared_sha256 ~ '^[0-9a-f]{64}$'),
    size              bigint CHECK (size >= 0),
    sha256            text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    format            text,
    media_type        text,
    metadata          jsonb NOT NULL DEFAULT '{}',
    bbox              box,
    error_code        text,
    error_message     text,
    object_key        text NOT NULL UNIQUE,
    request_id        text,
    upload_expires_at timestamptz,
    lease_token       uuid,
    lease_until       timestamptz,
    attempts          integer NOT NULL DEFAULT 0,
    stage             text,
    download_count    bigint NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    uploaded_at       timestamptz,
    processed_at      timestamptz,
    search            tsvector GENERATED ALWAYS AS (
                          to_tsvector('simple', title || ' ' || description || ' ' ||
                                      regexp_replace(filename, '[^[:alnum:]]+', ' ', 'g'))
                      ) STORED
);
-- Browse is keyset-paginated on (created_at, id) newest first: every access path has an index.
CREATE INDEX maps_ready_created ON app.maps (created_at DESC, id DESC) WHERE status = 'ready';
CREATE INDEX maps_owner_created ON app.maps (owner_id, created_at DESC, id DESC);
CREATE INDEX maps_search ON app.maps USING gin (search);
CREATE INDEX maps_bbox ON app.maps USING gist (bbox);
CREATE INDEX maps_pending ON app.maps (status, updated_at)
    WHERE status IN ('awaiting_upload', 'uploaded', 'processing');
