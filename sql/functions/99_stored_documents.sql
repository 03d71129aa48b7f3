-- Loaded last of the function files, on every migrate: stored map documents (app.maps.doc,
-- migration 014) follow a changed document builder (app.refresh_map_docs, 00_helpers.sql).
SELECT app.refresh_map_docs();
