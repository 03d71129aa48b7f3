"""One file name rule for every upload form: no extension, or a map file's; anything else
(evil.html, r.bin) is 415 before a byte moves, so no download is ever saved under it."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.conftest import BUCKET, GEOJSON, body

REFUSED = ["evil.html", "r.bin", "EVIL.HTM", "map.geojson.html", ".html", "x.html.", "a.exe"]
ACCEPTED = ["summit.geojson", "Ortho.TIF", "no extension", "track.GPX", "data.json"]


def _direct_form(pipeline, headers, filename):
    return pipeline.upload_direct(headers, GEOJSON, filename)


def _direct_raw(pipeline, headers, filename):
    return pipeline.client.http.post(
        f"/v1/maps?filename={quote(filename)}",
        headers={**headers, "Content-Type": "application/octet-stream"},
        body=GEOJSON,
    )


def _presigned(pipeline, headers, filename):
    return pipeline.create_presigned(headers, filename=filename, size=len(GEOJSON))


def _multipart(pipeline, headers, filename):
    return pipeline.create_presigned(headers, filename=filename, size=len(GEOJSON), multipart=True)


FORMS = {
    "direct form": _direct_form,
    "direct raw": _direct_raw,
    "presigned": _presigned,
    "multipart": _multipart,
}


@pytest.mark.parametrize("form", FORMS)
def test_names_that_are_not_map_files_are_415_in_every_form(pipeline, users, sql, s3, form):
    users.create("alice")
    alice = users.headers("alice")
    uploads_before = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    for filename in REFUSED:
        response = FORMS[form](pipeline, alice, filename)
        assert response.status_code == 415, (filename, response.body)
        doc = body(response)
        assert doc["code"] == "unsupported_media_type", filename
        assert "is not a map format Map Stock accepts" in doc["message"], filename
    assert sql.run("SELECT count(*) FROM app.maps") == [[0]]
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == uploads_before


@pytest.mark.parametrize("form", FORMS)
def test_map_file_names_and_names_without_extension_pass_in_every_form(pipeline, users, form):
    users.create("alice")
    alice = users.headers("alice")
    for filename in ACCEPTED:
        response = FORMS[form](pipeline, alice, filename)
        assert response.status_code == 201, (filename, response.body)
        assert body(response)["map"]["filename"] == filename
        map_id = body(response)["map"]["id"]
        path = f"/v1/maps/{map_id}" + ("/upload" if form == "multipart" else "")
        assert pipeline.client.http.delete(path, headers=alice).status_code == 204


def test_the_rule_is_in_the_openapi_document(client):
    schema = json.loads(client.http.get("/v1/openapi.json").body)
    text = json.dumps(schema)
    assert ".geojson" in text and "others: 415" in text
