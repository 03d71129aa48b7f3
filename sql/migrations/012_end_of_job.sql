-- Issue 12: reaching a final state (ready, rejected, failed) ends the map's job, whichever
-- statement sets it: no lease, stage or external deadline is left behind, processed_at says
-- when, and a ready map is complete (progress 100) with no error. The pipeline functions that
-- end a map (sql/functions/40_pipeline.sql) state only the status and the reason; their
-- single conditional UPDATE stays one statement. Like app.map_cell (005), the function is part
-- of the schema: change it with a migration (CREATE OR REPLACE keeps the trigger on it).
CREATE OR REPLACE FUNCTION app.end_job() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.stage := NULL;
    NEW.lease_token := NULL;
    NEW.lease_until := NULL;
    NEW.external_deadline := NULL;
    NEW.processed_at := now();
    IF NEW.status = 'ready' THEN
        NEW.progress := 100;
        NEW.error_code := NULL;
        NEW.error_message := NULL;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION app.end_job() IS 'Trigger maps_end_job: a map reaching ready, rejected or failed keeps no lease, stage or deadline; processed_at is set.';

CREATE TRIGGER maps_end_job BEFORE UPDATE OF status ON app.maps
    FOR EACH ROW
    WHEN (NEW.status IN ('ready', 'rejected', 'failed') AND NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION app.end_job();
