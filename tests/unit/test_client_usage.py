"""The mapstock client's command line and its answers to what is not a Map Stock API, against
a fake API on loopback: negative numbers as option values, downloads that never replace a file
the client named, one-line errors without response bodies, uploads refused before a byte goes."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mapstock_client import config
from mapstock_client.api import ClientError, error_from, joined, storage_problem
from mapstock_client.cli import main, parser
from mapstock_client.download import target_for

MAP_ID = "3f2a4c1e-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["ls", "--bbox", "-80,23,-76,26"], "bbox", "-80,23,-76,26"),
        (["ls", "--bbox=-80,23,-76,26"], "bbox", "-80,23,-76,26"),
        (["ls", "--bb", "-80,23,-76,26", "--json"], "bbox", "-80,23,-76,26"),  # abbreviated
        (["ls", "--bbox", "-.5,-1e1,170,-0.25"], "bbox", "-.5,-1e1,170,-0.25"),
        (["ls", "--bbox", "170,-10,-170,10"], "bbox", "170,-10,-170,10"),  # across 180°
        (["ls", "-q", "-5"], "q", "-5"),
        (["upload", "f.tif", "--title", "-40 m contours"], "title", "-40 m contours"),
    ],
)
def test_option_values_may_start_with_a_minus_and_a_digit(argv, field, value):
    assert getattr(parser().parse_args(argv), field) == value


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["ls", "--bbox", "-80,23,-76"], "argument --bbox: must be minx,miny,maxx,maxy"),
        (["ls", "--bbox", "-80,x,-76,26"], "argument --bbox: must be minx,miny,maxx,maxy"),
        (["ls", "--bbox", "nan,1,2,3"], "argument --bbox: must be minx,miny,maxx,maxy"),
        (["ls", "--limit", "-3"], "argument --limit: must be a positive number"),
        (["upload", "f.tif", "--parallel", "-1"], "argument --parallel: must be a number"),
        (["ls", "--bbox"], "argument --bbox: expected one argument"),
        (["ls", "--mine", "-80,23,-76,26"], "unrecognized arguments: -80,23,-76,26"),
    ],
)
def test_bad_option_values_are_usage_errors(capsys, argv, said):
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(argv)
    assert exited.value.code == 2
    assert said in capsys.readouterr().err


def test_ls_help_shows_a_negative_bbox(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["ls", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "example: mapstock ls --bbox -80,23,-76,26" in shown


def test_a_download_into_a_folder_never_replaces_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    doc = {"filename": "sub/trail.geojson"}
    (tmp_path / "out").mkdir()
    assert target_for(doc, "out") == Path("out/trail.geojson")
    assert target_for(doc, "made/") == Path("made/trail.geojson")
    assert (tmp_path / "made").is_dir()
    assert target_for(doc, None) == Path("trail.geojson")
    for output, taken in (("out", "out/trail.geojson"), ("out/", "out/trail.geojson"),
                          (None, "trail.geojson")):  # fmt: skip
        (tmp_path / taken).write_text("mine")
        with pytest.raises(ClientError) as refused:
            target_for(doc, output)
        assert str(refused.value) == f"{taken} already exists; choose where with -o PATH"
        assert (tmp_path / taken).read_text() == "mine"
    (tmp_path / "out" / "dangling.geojson").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ClientError, match="already exists"):
        target_for({"filename": "dangling.geojson"}, "out")
    # A file named with -o is the user's choice: replaced once the download is verified.
    assert target_for(doc, "out/trail.geojson") == Path("out/trail.geojson")


def _response(status: int, body: bytes, content_type: str = "text/html") -> httpx.Response:
    request = httpx.Request("GET", "http://127.0.0.1:8123/v1/maps?limit=20")
    return httpx.Response(status, content=body, headers={"Content-Type": content_type},
                          request=request)  # fmt: skip


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (404, b"<!DOCTYPE HTML>\n<html lang='en'><head>", "HTTP 404 Not Found"),
        (500, b"<!doctype html><title>500 Internal Server Error</title>", "HTTP 500 Internal"),
        (200, b"[1, 2]", "HTTP 200 OK"),
        (502, b'{"code": 5}', "HTTP 502 Bad Gateway"),
    ],
)
def test_an_answer_that_is_not_the_api_never_shows_its_body(status, body, said):
    error = error_from(_response(status, body), "http://127.0.0.1:8123")
    assert error.status == status
    assert str(error).startswith(
        f"http_{status}: http://127.0.0.1:8123 does not answer like a Map Stock API "
        f"(GET /v1/maps: {said}"
    )
    assert str(error).endswith("); check MAPSTOCK_API")
    assert "<" not in str(error)


def test_api_documents_and_gateway_messages_are_said_as_they_are():
    doc = json.dumps({"code": "not_found", "message": "Map not found.", "request_id": "r"})
    assert str(error_from(_response(404, doc.encode(), "application/json"))) == (
        "not_found: Map not found."
    )
    gateway = _response(502, b'{"message": "Internal server error"}', "application/json")
    assert str(error_from(gateway)) == "http_502: Internal server error"


def test_joined_messages_have_no_stray_full_stop():
    assert joined("unauthorized: It expired.", "log in again") == (
        "unauthorized: It expired; log in again"
    )
    assert joined("no stop", "then") == "no stop; then"


def test_storage_errors_are_their_code_and_message_not_the_body():
    xml = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
        b"<Message>Request has expired</Message><RequestId>X</RequestId>"
        + b"<HostId>"
        + b"h" * 500
        + b"</HostId></Error>"
    )
    assert storage_problem(_response(403, xml, "application/xml")) == (
        "403 AccessDenied: Request has expired"
    )
    assert storage_problem(_response(500, b"<html>oops</html>")) == ("500 Internal Server Error")


class FakeApi(http.server.BaseHTTPRequestHandler):
    """GET /v1/me answering `me` (a status and a document); any other request is recorded and
    answered 500, so a test sees whether the client went on to send anything."""

    me: tuple[int, dict[str, Any]]
    others: list[str]

    def do_GET(self) -> None:
        if self.path == "/v1/me":
            self._answer(*self.me)
        else:
            self._other()

    def do_POST(self) -> None:
        self._other()

    def _other(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.others.append(f"{self.command} {self.path} ({length} bytes)")
        self._answer(500, {"code": "internal", "message": "not expected in this test"})

    def _answer(self, status: int, doc: dict[str, Any]) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_api(tmp_path, monkeypatch) -> Iterator[type[FakeApi]]:
    handler = type("Handler", (FakeApi,), {"me": (200, {}), "others": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("MAPSTOCK_API", base)
    monkeypatch.setenv("MAPSTOCK_CONFIG", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    config.save_token(base, "lapsed", "t0k", 3600)
    yield handler
    server.shutdown()
    server.server_close()


def test_an_upload_without_an_active_subscription_sends_nothing(fake_api, tmp_path, capsys):
    fake_api.me = (200, {"username": "lapsed", "role": "member", "active": False})
    (tmp_path / "r_byte.tif").write_bytes(b"II*\x00" + b"\x00" * 4096)
    assert main(["upload", "r_byte.tif"]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", "subscription_inactive: Your subscription is not active: "
                              "uploading needs an active subscription.\n")  # fmt: skip
    assert fake_api.others == []


def test_a_revoked_token_is_one_sentence_and_sends_nothing(fake_api, tmp_path, capsys):
    fake_api.me = (401, {"code": "unauthorized", "message": "The access token is invalid."})
    (tmp_path / "r_byte.tif").write_bytes(b"II*\x00" + b"\x00" * 4096)
    assert main(["upload", "r_byte.tif"]) == 1
    assert capsys.readouterr().err == (
        "unauthorized: The access token is invalid; log in again: mapstock login lapsed\n"
    )
    assert fake_api.others == []


def test_an_empty_or_missing_file_is_refused_before_any_call(fake_api, tmp_path, capsys):
    fake_api.me = (200, {"username": "lapsed", "role": "member", "active": True})
    (tmp_path / "empty.tif").write_bytes(b"")
    (tmp_path / "folder").mkdir()
    for name, said in (
        ("empty.tif", "empty.tif: is empty; there is no map to upload"),
        ("gone.tif", "gone.tif: No such file or directory"),
        ("folder", "folder: not a regular file"),
    ):
        assert main(["upload", name]) == 1, name
        assert capsys.readouterr() == ("", said + "\n")  # no progress line: nothing sent
    assert fake_api.others == []


def test_an_html_server_is_named_not_dumped(tmp_path, monkeypatch, capsys):
    (tmp_path / "index.html").write_text("<!DOCTYPE HTML><html lang='en'><head></head></html>")
    handler = type(
        "Plain",
        (http.server.SimpleHTTPRequestHandler,),
        {"log_message": lambda *a: None, "__init__": _serving(tmp_path)},
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("MAPSTOCK_API", base)
    monkeypatch.setenv("MAPSTOCK_CONFIG", str(tmp_path / "config"))
    try:
        assert main(["ls"]) == 1
        assert main(["show", MAP_ID]) == 1
    finally:
        server.shutdown()
        server.server_close()
    assert capsys.readouterr().err.splitlines() == [
        f"http_404: {base} does not answer like a Map Stock API (GET {path}: HTTP 404 File "
        "not found); check MAPSTOCK_API"
        for path in ("/v1/maps", f"/v1/maps/{MAP_ID}")
    ]


def _serving(folder: Path) -> Any:
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        http.server.SimpleHTTPRequestHandler.__init__(self, *args, directory=str(folder), **kwargs)

    return init
