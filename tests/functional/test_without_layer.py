"""The zip all six functions share holds none of the processor's libraries (they come with its
layer, requirements-processing.txt): the API, the S3 handler, the DLQ consumer and the sweepers
work without them and never try to import them. A processor deployed without its layer fails
the job and retries it; it never rejects the file as malformed."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from chalicelib.formats.inspect import LAYER_MODULES
from chalicelib.handlers.sqs import BatchFailed
from tests import samples
from tests.conftest import QUEUE, body, job_body
from tests.events import scheduled_event, sqs_event, sqs_record

# The layer's libraries that chalicelib imports (tests/deploy/test_package.py checks they are
# all in requirements-processing.txt), and rio-cogeo's morecantile.
LAYER_ONLY = LAYER_MODULES | {"rasterio", "rio_cogeo", "pyproj", "morecantile"}


class _Absent:
    """A meta path finder for which the layer's libraries do not exist; records who asked."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".")[0] in LAYER_ONLY:
            self.attempts.append(name)
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


@contextmanager
def without_layer() -> Iterator[_Absent]:
    """This process as a function without the layer: its libraries are unloaded and cannot be
    imported again until the block ends (then the loaded modules are put back as they were)."""
    absent = _Absent()
    with pytest.MonkeyPatch.context() as patch:
        for name in [m for m in sys.modules if m.split(".")[0] in LAYER_ONLY]:
            patch.delitem(sys.modules, name)
        patch.setattr(sys, "meta_path", [absent, *sys.meta_path])
        yield absent


def _png() -> bytes:
    out = io.BytesIO()
    samples.make_png_bytes(out)
    return out.getvalue()


def test_api_and_event_functions_never_import_the_layer(pipeline, users, sql):
    users.create("ann")
    ann = users.headers("ann")
    png = _png()
    stranded = pipeline.upload_maps(ann)[0]
    sql.run(
        "UPDATE app.maps SET status = 'processing', lease_token = gen_random_uuid(), "
        "lease_until = now() - interval '1 minute' WHERE id = :id",
        id=stranded,
    )
    with without_layer() as absent:
        login = pipeline.client.http.post(
            "/v1/auth/token",
            headers={"Content-Type": "application/json"},
            body=json.dumps({"username": "ann", "password": "correct horse battery"}),
        )
        assert login.status_code == 200, login.body
        created = pipeline.upload_direct(ann, png, "scan.png", title="Scan")
        assert created.status_code == 201, created.body
        map_id = body(created)["map"]["id"]
        presigned = pipeline.create_presigned(ann, filename="big.tif", size=10_000_000)
        assert presigned.status_code == 201, presigned.body
        listed = pipeline.client.http.get("/v1/maps?owner=ann", headers=ann)
        assert listed.status_code == 200, listed.body
        assert map_id in {m["id"] for m in body(listed)["items"]}

        pipeline.deliver_s3(map_id)  # on_upload
        queued = pipeline.receive()
        assert [json.loads(m["Body"])["map_id"] for m in queued] == [map_id]

        dead = [sqs_record(job_body(stranded), f"{QUEUE}-dlq", 6)]
        dlq = pipeline.client.lambda_.invoke("on_dead_letter", sqs_event(dead)).payload
        assert dlq == {"batchItemFailures": []}
        assert body(pipeline.get(stranded, ann))["status"] == "failed"
        swept = pipeline.client.lambda_.invoke("sweeper", scheduled_event()).payload
        assert swept["gave_up"] == 0
        orphans = pipeline.client.lambda_.invoke("orphan_sweeper", scheduled_event()).payload
        assert orphans["checked"] >= 2

        assert absent.attempts == []

        # The processor without its layer: a transient failure, retried, then `failed`.
        with pytest.raises(BatchFailed):
            pipeline.deliver_jobs(pipeline.records(queued))
        assert absent.attempts[0] == "PIL"
        assert body(pipeline.get(map_id, ann))["status"] == "uploaded"
        assert pipeline.deliver_jobs(pipeline.records(queued, receive_count=5)) == {
            "batchItemFailures": []
        }
        failed = body(pipeline.get(map_id, ann))
        assert (failed["status"], failed["error"]["code"]) == ("failed", "processing_failed")

    # With the layer the same bytes are a map: the failure above was never the file's.
    again = pipeline.upload_direct(ann, png, "scan.png")
    pipeline.deliver_s3(body(again)["map"]["id"])
    assert pipeline.process_all() == {"batchItemFailures": []}
    assert body(pipeline.get(body(again)["map"]["id"], ann))["format"] == "png"
