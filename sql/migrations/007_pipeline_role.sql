-- The event pipeline's functions (S3 handler, processor, dead-letter consumer, sweepers) move to
-- their own schema, executable only by their own role: the API's credentials can no longer
-- complete, fail or sweep maps. Like mapstock_api it is NOLOGIN, owns nothing and may only
-- EXECUTE pipeline.* (granted by migrate after the functions are re-created; the old api.*
-- copies are dropped there too).
CREATE SCHEMA IF NOT EXISTS pipeline;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mapstock_pipeline') THEN
        CREATE ROLE mapstock_pipeline NOLOGIN;
    END IF;
END
$$;
