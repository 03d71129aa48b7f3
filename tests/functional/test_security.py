"""Security properties: login timing parity, and logs that leak no secrets."""

from __future__ import annotations

import json
import time

from tests.conftest import GEOJSON, PASSWORD, body, login


def test_unknown_user_and_wrong_password_take_the_same_time(client, users, sql):
    users.create("alice")
    timings = {"unknown": [], "wrong": []}
    for _ in range(9):  # interleaved, so machine load hits both alike
        for kind, name in (("unknown", "nobody-at-all"), ("wrong", "alice")):
            started = time.process_time()
            response = login(client, name, "definitely wrong")
            timings[kind].append(time.process_time() - started)
            assert response.status_code == 401
        sql.run("TRUNCATE app.login_throttle")
    # CPU time of this process (the app runs in it), the fastest of each: another test worker
    # or a busy host cannot lengthen it the way it does wall time, so what is compared is the
    # work each path does. A leak (no bcrypt for an unknown user) would be ~100x.
    unknown, wrong = (min(timings[k]) for k in ("unknown", "wrong"))
    assert abs(unknown - wrong) / max(unknown, wrong) < 0.10, timings


def test_logs_carry_no_tokens_passwords_or_presigned_urls(pipeline, users, capsys):
    users.create("bob")
    token = body(login(pipeline.client, "bob", PASSWORD))["access_token"]
    bob = {"Authorization": f"Bearer {token}", "X-Request-Id": "trace-bob-0001"}
    # Non-ASCII that is still accepted (bidi controls and U+2028 are refused at the door now).
    upload = pipeline.upload_direct(
        bob, GEOJSON, "carte d'\u00e9t\u00e9 \u5317\u6d77\u9053.geojson"
    )
    map_id = body(upload)["map"]["id"]
    presigned = body(pipeline.create_presigned(bob, filename="p.geojson", size=len(GEOJSON)))
    pipeline.deliver_s3(map_id)
    pipeline.process_all()
    url = pipeline.client.http.get(f"/v1/maps/{map_id}/download?redirect=false", headers=bob)
    assert url.status_code == 200
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON document
    assert all(line.isascii() for line in lines)  # user text escaped, never raw
    for secret in (
        token,
        PASSWORD,
        presigned["upload"]["fields"]["policy"],
        body(url)["url"],
        "X-Amz-Signature",
        "x-amz-signature",
    ):
        assert secret not in out
    # The upload's request id follows the map into the S3 and SQS handlers' lines.
    traced = {p["event"] for p in parsed if p["request_id"] == "trace-bob-0001"}
    assert {"map_uploaded", "s3_upload_registered", "map_ready"} <= traced
