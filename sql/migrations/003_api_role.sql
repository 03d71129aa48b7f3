-- The role the application connects as (through a LOGIN role granted it): it owns nothing and
-- may only EXECUTE api.* functions (granted by migrate after functions are re-created).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mapstock_api') THEN
        CREATE ROLE mapstock_api NOLOGIN;
    END IF;
END
$$;
