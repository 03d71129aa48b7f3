-- Issue 11: the two hottest reads, one map (api.get_map) and a browse page (api.browse_maps),
-- built the contract's document from the row on every call: ~20 µs a document, more than the
-- rest of api.get_map together and the largest share of a page at 1M maps whose matches are
-- not in the cache (bench/db_roundtrip.py, bench/browse_scale.py). The document is now kept
-- in the row itself, written by a trigger whenever the row is written, so reads only copy it.
--
-- One source of truth stays app.map_doc_json(m, owner_name) (sql/functions/00_helpers.sql):
-- the trigger calls it (through app.map_doc), and app.refresh_map_docs(), run by every migrate after the functions
-- are loaded, rewrites every stored document when that function (or app.iso, which it uses)
-- has changed since the documents were written. Nothing else writes the column.
ALTER TABLE app.maps ADD COLUMN doc json;

-- What the stored documents were built with (md5 of the builders' source), one row.
CREATE TABLE app.map_docs_built_with (
    only_row    boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    fingerprint text NOT NULL
);

-- Usernames never change (there is no rename), so the owner's name is read once per write.
-- Stored as jsonb prints it ({"id": "…", "size": 1}, the keys in the same order): the text
-- GET /v1/maps/{id} sends as it is, where json_build_object's own spacing reads oddly.
CREATE OR REPLACE FUNCTION app.keep_map_doc() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.doc := app.map_doc(NEW, (SELECT u.username FROM app.users u WHERE u.id = NEW.owner_id))::json;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION app.keep_map_doc() IS 'Trigger maps_zz_doc: the row''s stored document (app.map_doc) after every other change to it.';

-- BEFORE triggers fire in name order: "zz" runs this one after every other (maps_end_job),
-- so the document shows the row exactly as it is written.
CREATE TRIGGER maps_zz_doc BEFORE INSERT OR UPDATE ON app.maps
    FOR EACH ROW EXECUTE FUNCTION app.keep_map_doc();
