-- GET /v1/health: the API's role can reach the database. Only the API asks (the pipeline's
-- functions report through their own calls), so it lives in api.* alone.

CREATE OR REPLACE FUNCTION api.health() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = app, pg_catalog, pg_temp AS $$
    SELECT true
$$;
COMMENT ON FUNCTION api.health() IS 'The database answers.';
