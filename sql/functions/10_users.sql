-- Accounts: login lookup, /me, and user management (api.* for admins over HTTP, ops.* for the CLI).

CREATE OR REPLACE FUNCTION app.throttle_hit(p_key text, p_window_seconds integer, p_max integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    started timestamptz;
    window_length interval := make_interval(secs => p_window_seconds);
BEGIN
    INSERT INTO app.login_throttle AS t (key, window_start, attempts) VALUES (p_key, now(), 1)
    ON CONFLICT (key) DO UPDATE SET
        attempts = CASE WHEN t.window_start <= now() - window_length THEN 1 ELSE t.attempts + 1 END,
        window_start = CASE WHEN t.window_start <= now() - window_length THEN now()
                            ELSE t.window_start END
    RETURNING attempts, window_start INTO n, started;
    IF n > p_max THEN
        RETURN greatest(1, ceil(extract(epoch FROM started + window_length - now())))::integer;
    END IF;
    RETURN 0;
END
$$;
COMMENT ON FUNCTION app.throttle_hit(text, integer, integer) IS 'Count one attempt in a fixed window; seconds to wait when over p_max, else 0.';

CREATE OR REPLACE FUNCTION api.login_lookup(p_username text, p_client_ip text,
                                            p_window_seconds integer, p_max_per_account_ip integer,
                                            p_max_per_ip integer) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    wait integer;
BEGIN
    -- Throttled per (account, client) so a guesser elsewhere never locks the owner out, and
    -- per client so one address cannot sweep many accounts. Windows end by themselves.
    wait := greatest(
        app.throttle_hit('ip:' || coalesce(p_client_ip, '-'), p_window_seconds, p_max_per_ip),
        CASE WHEN p_username IS NULL THEN 0 ELSE
            app.throttle_hit('acct:' || lower(p_username) || '|' || coalesce(p_client_ip, '-'),
                             p_window_seconds, p_max_per_account_ip) END);
    IF wait > 0 THEN
        RETURN jsonb_build_object('retry_after', wait, 'user', NULL);
    END IF;
    RETURN jsonb_build_object('retry_after', NULL, 'user',
        (SELECT jsonb_build_object('id', id, 'password_hash', password_hash,
                                   'token_version', token_version)
         FROM app.users WHERE lower(username) = lower(p_username)));
END
$$;
COMMENT ON FUNCTION api.login_lookup(text, text, integer, integer, integer)
    IS 'Count a login attempt (throttled: retry_after seconds) and return the user''s id, hash and token version.';

CREATE OR REPLACE FUNCTION api.login_succeeded(p_username text, p_client_ip text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
    -- Only failures count against the limits: a member who signs in from many tabs or
    -- scripts never locks themselves out. The attempt login_lookup counted is taken back
    -- (never below zero), so guesses made in the same window still count.
    UPDATE app.login_throttle SET attempts = greatest(attempts - 1, 0)
    WHERE key IN ('ip:' || coalesce(p_client_ip, '-'),
                  'acct:' || lower(p_username) || '|' || coalesce(p_client_ip, '-'))
$$;
COMMENT ON FUNCTION api.login_succeeded(text, text)
    IS 'Take back the attempt login_lookup counted for a login that succeeded.';

CREATE OR REPLACE FUNCTION api.me(p_caller uuid, p_token_version integer,
                                  p_default_quota_maps integer, p_default_quota_bytes bigint)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
DECLARE
    c app.users := app.caller(p_caller, p_token_version);
    n bigint;
    total bigint;
BEGIN
    IF c.id IS NULL THEN
        PERFORM app.raise('MS401', 'Authentication required.');
    END IF;
    SELECT count(*), coalesce(sum(coalesce(size, declared_size)), 0) INTO n, total
    FROM app.maps WHERE owner_id = c.id;
    RETURN app.user_doc(c) || jsonb_build_object(
        'usage', jsonb_build_object('maps', n, 'bytes', total),
        'quota', jsonb_build_object('maps', coalesce(c.quota_maps, p_default_quota_maps),
                                    'bytes', coalesce(c.quota_bytes, p_default_quota_bytes)));
END
$$;
COMMENT ON FUNCTION api.me(uuid, integer, integer, bigint) IS 'The caller''s account, usage and quota.';

CREATE OR REPLACE FUNCTION app.create_user(p_username text, p_password_hash text, p_role text,
                                           p_active_until timestamptz) RETURNS app.users
LANGUAGE plpgsql AS $$
DECLARE
    u app.users;
BEGIN
    -- The name and role were checked by their callers (chalicelib/rules.py); the table's CHECK
    -- constraints guard them (23514, a 400).
    INSERT INTO app.users (username, password_hash, role, active_until)
    VALUES (p_username, p_password_hash, coalesce(p_role, 'member'), p_active_until)
    RETURNING * INTO u;
    RETURN u;
EXCEPTION WHEN unique_violation THEN
    PERFORM app.raise('MS409', 'username: already taken.');
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION app.create_user(text, text, text, timestamptz) IS 'Insert a user; MS409 duplicate (23514 bad name or role).';

CREATE OR REPLACE FUNCTION app.update_user(p_username text, p_password_hash text, p_role text,
                                           p_set_active_until boolean, p_active_until timestamptz)
RETURNS app.users
LANGUAGE plpgsql AS $$
DECLARE
    u app.users;
    revoke boolean;
BEGIN
    SELECT * INTO u FROM app.users WHERE lower(username) = lower(p_username) FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM app.raise('MS404', 'User not found.');
    END IF;
    -- New password, new role or deactivation: every token issued before is revoked.
    revoke := p_password_hash IS NOT NULL
        OR (p_role IS NOT NULL AND p_role <> u.role)
        OR (p_set_active_until AND coalesce(p_active_until <= now(), true)
            AND coalesce(u.active_until > now(), false));
    UPDATE app.users SET
        password_hash = coalesce(p_password_hash, password_hash),
        role = coalesce(p_role, role),
        active_until = CASE WHEN p_set_active_until THEN p_active_until ELSE active_until END,
        token_version = token_version + CASE WHEN revoke THEN 1 ELSE 0 END,
        updated_at = now()
    WHERE id = u.id
    RETURNING * INTO u;
    RETURN u;
END
$$;
COMMENT ON FUNCTION app.update_user(text, text, text, boolean, timestamptz) IS 'Change a user; revokes tokens on password/role change or deactivation.';

CREATE OR REPLACE FUNCTION app.require_admin(p_caller uuid, p_token_version integer) RETURNS app.users
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c app.users := app.caller(p_caller, p_token_version);
BEGIN
    IF c.id IS NULL THEN
        PERFORM app.raise('MS401', 'Authentication required.');
    END IF;
    IF c.role <> 'admin' THEN
        PERFORM app.raise('MS403', 'Admins only.');
    END IF;
    RETURN c;
END
$$;
COMMENT ON FUNCTION app.require_admin(uuid, integer) IS 'The caller if admin; MS401 guest, MS403 member.';

CREATE OR REPLACE FUNCTION api.create_user(p_caller uuid, p_token_version integer, p_username text,
                                           p_password_hash text, p_role text,
                                           p_active_until timestamptz) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
BEGIN
    PERFORM app.require_admin(p_caller, p_token_version);
    RETURN app.user_doc(app.create_user(p_username, p_password_hash, p_role, p_active_until));
END
$$;
COMMENT ON FUNCTION api.create_user(uuid, integer, text, text, text, timestamptz) IS 'Admin: create a user.';

CREATE OR REPLACE FUNCTION api.update_user(p_caller uuid, p_token_version integer, p_username text,
                                           p_password_hash text, p_role text,
                                           p_set_active_until boolean,
                                           p_active_until timestamptz) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
BEGIN
    PERFORM app.require_admin(p_caller, p_token_version);
    RETURN app.user_doc(app.update_user(p_username, p_password_hash, p_role, p_set_active_until,
                                        p_active_until));
END
$$;
COMMENT ON FUNCTION api.update_user(uuid, integer, text, text, text, boolean, timestamptz) IS 'Admin: change a user.';

CREATE OR REPLACE FUNCTION api.list_users(p_caller uuid, p_token_version integer) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
BEGIN
    PERFORM app.require_admin(p_caller, p_token_version);
    RETURN (SELECT coalesce(jsonb_agg(app.user_doc(u) ORDER BY lower(u.username)), '[]')
            FROM app.users u);
END
$$;
COMMENT ON FUNCTION api.list_users(uuid, integer) IS 'Admin: every user.';

CREATE OR REPLACE FUNCTION ops.create_user(p_username text, p_password_hash text, p_role text,
                                           p_active_until timestamptz) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT app.user_doc(app.create_user(p_username, p_password_hash, p_role, p_active_until))
$$;
COMMENT ON FUNCTION ops.create_user(text, text, text, timestamptz) IS 'CLI: create a user.';

CREATE OR REPLACE FUNCTION ops.update_user(p_username text, p_password_hash text, p_role text,
                                           p_set_active_until boolean,
                                           p_active_until timestamptz) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT app.user_doc(app.update_user(p_username, p_password_hash, p_role, p_set_active_until,
                                        p_active_until))
$$;
COMMENT ON FUNCTION ops.update_user(text, text, text, boolean, timestamptz) IS 'CLI: change a user.';

CREATE OR REPLACE FUNCTION ops.list_users() RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(app.user_doc(u) ORDER BY lower(u.username)), '[]') FROM app.users u
$$;
COMMENT ON FUNCTION ops.list_users() IS 'CLI: every user.';

CREATE OR REPLACE FUNCTION api.check_caller(p_caller uuid, p_token_version integer) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
BEGIN
    PERFORM app.caller(p_caller, p_token_version);
    RETURN true;
END
$$;
COMMENT ON FUNCTION api.check_caller(uuid, integer) IS 'MS401 when the token was revoked (used when a request fails before its own call).';
