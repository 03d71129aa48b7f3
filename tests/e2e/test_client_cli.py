"""The `mapstock` client as a user runs it (.venv/bin/mapstock, not a terminal) against the real
local stack: login, the three upload forms, an interrupted multipart upload resumed, downloads
checked against tampering, browse/share/delete and error exits."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from mapstock_client.progress import human
from tests.conftest import ORIGINAL_ENV
from tests.e2e.stack import (
    LocalStack,
    database_for_stack,
    kill_leftovers,
    start_stack,
    throwaway_home,
)

pytestmark = pytest.mark.e2e

MAPSTOCK = Path(sys.executable).parent / "mapstock"  # what `make` installs (pip install -e .)
PASSWORD = "correct horse battery staple"
PART = 256 * 1024
# Small parts, so a multipart upload of a few MiB has dozens of them; files of 4-6 MiB take
# the presigned POST, larger ones multipart (the client sends up to 4 MiB directly).
STACK_ENV = {
    "S3_UPLOAD_PART_MIN_SIZE": str(PART),
    "MULTIPART_PART_BYTES": str(PART),
    "MULTIPART_THRESHOLD_BYTES": str(6 * 1024 * 1024),
}
SENT = re.compile(r"^part (\d+) sent \(\d+ bytes\)$", re.M)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with database_for_stack() as database_url, throwaway_home() as home:
        started = start_stack(home, database_url, STACK_ENV)
        pids = started.run_files()["pids"]
        try:
            yield started
        finally:
            kill_leftovers(started, pids)


@dataclass
class User:
    """A member with a client folder of their own ($MAPSTOCK_CONFIG) and a working folder."""

    stack: LocalStack
    name: str
    home: Path

    @property
    def config(self) -> Path:
        return self.home / "config"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in ORIGINAL_ENV.items() if not k.startswith("MAPSTOCK_")}
        env.update(MAPSTOCK_API=self.stack.url, MAPSTOCK_CONFIG=str(self.config))
        env.update(extra)
        return env

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(MAPSTOCK), *args],
            cwd=self.home,
            env=self.env(**extra),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.run(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def token(self) -> str:
        doc = json.loads((self.config / "credentials.json").read_text())
        return str(doc[self.stack.url]["access_token"])

    def api(self, path: str) -> Any:
        response = requests.get(
            self.stack.url + path, headers={"Authorization": f"Bearer {self.token()}"}, timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()


def member(stack: LocalStack, tmp_path: Path, login: bool = True) -> User:
    name = f"u{uuid.uuid4().hex[:8]}"
    created = stack.cli("user", "create", name, "--days", "30", password=PASSWORD)
    assert created.returncode == 0, created.stderr
    home = tmp_path / name
    home.mkdir()
    user = User(stack, name, home)
    if login:
        result = user.run("login", name, MAPSTOCK_PASSWORD=PASSWORD)
        assert result.returncode == 0, result.stderr
    return user


def geojson(path: Path, mib: float, seed: int = 0) -> bytes:
    """A real GeoJSON map of about `mib` MiB (processing makes it ready, with a gzip variant)."""
    features = []
    size, i = 0, 0
    while size < mib * 1024 * 1024:
        feature = {
            "type": "Feature",
            "properties": {"n": i, "seed": seed, "pad": "x" * 200},
            "geometry": {"type": "Point", "coordinates": [6 + (i % 300) / 100, 46.0]},
        }
        features.append(feature)
        size += len(json.dumps(feature)) + 2
        i += 1
    data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    path.write_bytes(data)
    return data


def test_login_keeps_a_private_token_and_logout_forgets_it(stack, tmp_path):
    user = member(stack, tmp_path, login=False)
    wrong = user.run("login", user.name, MAPSTOCK_PASSWORD="not the password")
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("unauthorized: ")
    assert len(wrong.stderr.splitlines()) == 1
    assert not (user.config / "credentials.json").exists()

    # The password from stdin when MAPSTOCK_PASSWORD is unset and stdin is no terminal.
    result = subprocess.run(
        [str(MAPSTOCK), "login", user.name],
        input=PASSWORD + "\n",
        env=user.env(),
        cwd=user.home,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"logged in as {user.name} at {stack.url}\n"
    assert (user.config.stat().st_mode & 0o777) == 0o700
    credentials = user.config / "credentials.json"
    assert (credentials.stat().st_mode & 0o777) == 0o600
    assert PASSWORD not in credentials.read_text()
    me = user.api("/v1/me")
    assert me["username"] == user.name
    assert user.ok("ls", "--mine", "--json").stdout.strip() == "[]"

    assert user.ok("logout").stdout == "logged out\n"
    assert not credentials.exists()
    mine = user.run("ls", "--mine")
    assert mine.returncode == 1
    assert mine.stderr == "unauthorized: Log in first: mapstock login USERNAME\n"

    # No password at all (stdin at its end, no MAPSTOCK_PASSWORD): refused here, not sent.
    empty = user.run("login", user.name)
    assert (empty.returncode, empty.stdout) == (1, "")
    assert empty.stderr.startswith("no password given")
    assert len(empty.stderr.splitlines()) == 1
    assert not credentials.exists()


def test_an_expired_or_revoked_login_is_said_before_any_byte_is_sent(stack, tmp_path):
    user = member(stack, tmp_path)
    geojson(user.home / "small.geojson", 0.5, seed=7)  # the direct form: the token goes along
    # Revoked on the server: deactivated (which revokes every token), then renewed.
    for change in (("--deactivate",), ("--days", "30")):
        assert stack.cli("user", "update", user.name, *change).returncode == 0
    revoked = user.run("upload", "small.geojson")
    assert (revoked.returncode, revoked.stdout) == (1, "")
    assert revoked.stderr.startswith("unauthorized: "), revoked.stderr
    assert revoked.stderr.endswith(f"; log in again: mapstock login {user.name}\n")
    assert len(revoked.stderr.splitlines()) == 1  # no progress lines: nothing was sent
    again = user.run("login", user.name, MAPSTOCK_PASSWORD=PASSWORD)
    assert again.returncode == 0, again.stderr
    assert user.ok("ls", "--mine", "--json").stdout.strip() == "[]"  # no map was made

    # Expired by its lifetime: known here, no call needed.
    credentials = user.config / "credentials.json"
    doc = json.loads(credentials.read_text())
    doc[stack.url]["expires_at"] = time.time() - 1
    credentials.write_text(json.dumps(doc))
    for args in (("upload", "small.geojson"), ("ls",)):
        expired = user.run(*args)
        assert (expired.returncode, expired.stdout) == (1, ""), args
        assert expired.stderr == (
            f"unauthorized: the login of {user.name} at {stack.url} has expired; "
            f"log in again: mapstock login {user.name}\n"
        )


def test_an_inactive_subscription_or_an_empty_file_is_said_before_any_byte_is_sent(stack, tmp_path):
    user = member(stack, tmp_path, login=False)
    assert stack.cli("user", "update", user.name, "--deactivate").returncode == 0
    assert user.run("login", user.name, MAPSTOCK_PASSWORD=PASSWORD).returncode == 0
    assert user.api("/v1/me")["active"] is False
    geojson(user.home / "small.geojson", 0.5, seed=10)
    refused = user.run("upload", "small.geojson")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == (  # one line: no progress line, nothing was sent
        "subscription_inactive: Your subscription is not active: uploading needs an active "
        "subscription.\n"
    )
    assert user.api("/v1/maps?owner=me")["items"] == []
    (user.home / "empty.tif").write_bytes(b"")
    empty = user.run("upload", "empty.tif")
    assert (empty.returncode, empty.stdout) == (1, "")
    assert empty.stderr == "empty.tif: is empty; there is no map to upload\n"


def test_interrupted_multipart_upload_resumes_with_the_missing_parts_only(stack, tmp_path):
    user = member(stack, tmp_path)
    data = geojson(user.home / "big.geojson", 16)
    part_count = -(-len(data) // PART)
    assert part_count >= 60

    first = subprocess.Popen(
        [str(MAPSTOCK), "upload", "big.geojson", "--title", "Big", "-v", "--parallel", "2"],
        cwd=user.home,
        env=user.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert first.stderr is not None
    seen: list[str] = []
    for line in first.stderr:  # Ctrl-C once a few parts are in
        seen.append(line)
        if sum(bool(SENT.match(x.rstrip("\n"))) for x in seen) >= 4:
            first.send_signal(signal.SIGINT)
            break
    out, err = first.communicate(timeout=60)
    assert first.returncode == 130, "".join(seen) + err
    assert out == ""
    said = "".join(seen) + err
    map_id = re.search(r"^map (\S+): multipart, (\d+) parts$", said, re.M).group(1)
    assert f"interrupted: map {map_id} is resumable" in said

    records = list((user.config / "uploads").glob("*.json"))
    assert len(records) == 1
    assert (records[0].stat().st_mode & 0o777) == 0o600
    assert json.loads(records[0].read_text())["map_id"] == map_id
    state = user.api(f"/v1/maps/{map_id}/upload")
    assert state["checksum_algorithm"] == "SHA256"  # each part went with its SHA-256
    held = {p["part_number"] for p in state["parts"]}
    assert 4 <= len(held) < part_count

    again = user.run("upload", "big.geojson", "--title", "Big", "-v", "--wait")
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"{map_id}\n"
    assert (
        f"resuming map {map_id}: {len(held)} of {part_count} parts already uploaded, "
        f"sending {part_count - len(held)}"
    ) in again.stderr
    sent = [int(n) for n in SENT.findall(again.stderr)]
    assert sorted(sent) == sorted(set(range(1, part_count + 1)) - held)
    assert f"map {map_id}: ready" in again.stderr
    assert list((user.config / "uploads").glob("*.json")) == []
    doc = user.api(f"/v1/maps/{map_id}")
    assert doc["status"] == "ready"
    assert doc["title"] == "Big"
    assert doc["sha256"] == hashlib.sha256(data).hexdigest()
    assert doc["size"] == len(data)


def interrupt_upload(user: User, name: str, parts: int) -> str:
    """Start `mapstock upload NAME -v` and Ctrl-C it once `parts` parts are in; its map id."""
    started = subprocess.Popen(
        [str(MAPSTOCK), "upload", name, "-v", "--parallel", "1"],
        cwd=user.home,
        env=user.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert started.stderr is not None
    seen: list[str] = []
    for line in started.stderr:
        seen.append(line)
        if sum(bool(SENT.match(x.rstrip("\n"))) for x in seen) >= parts:
            started.send_signal(signal.SIGINT)
            break
    _, err = started.communicate(timeout=60)
    said = "".join(seen) + err
    assert started.returncode == 130, said
    return re.search(r"^map (\S+): multipart, \d+ parts$", said, re.M).group(1)


def test_a_file_changed_since_its_interrupted_upload_discards_that_upload(stack, tmp_path):
    user = member(stack, tmp_path)
    path = user.home / "edited.geojson"
    data = geojson(path, 7, seed=8)  # multipart here
    old_id = interrupt_upload(user, "edited.geojson", parts=2)
    assert user.api(f"/v1/maps/{old_id}")["status"] == "awaiting_upload"
    s3, bucket = _s3(stack)
    pending = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert any(old_id in u["Key"] for u in pending)

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # `touch`
    again = user.run("upload", "edited.geojson")
    assert again.returncode == 0, again.stderr
    new_id = again.stdout.strip()
    assert new_id != old_id
    assert again.stderr.splitlines()[0] == (
        f"edited.geojson changed since its upload was interrupted: the earlier upload "
        f"(map {old_id}) was discarded; starting again"
    )
    gone = requests.get(
        f"{stack.url}/v1/maps/{old_id}",
        headers={"Authorization": f"Bearer {user.token()}"},
        timeout=10,
    )
    assert gone.status_code == 404
    pending = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert not any(old_id in u["Key"] for u in pending)
    assert user.api(f"/v1/maps/{new_id}")["size"] == len(data)
    assert list((user.config / "uploads").glob("*.json")) == []


def test_local_file_errors_are_one_line_and_leave_nothing_behind(stack, tmp_path):
    user = member(stack, tmp_path)
    geojson(user.home / "here.geojson", 0.05, seed=9)
    map_id = user.ok("upload", "here.geojson", "--wait").stdout.strip()
    (user.home / "existingfile").write_text("a file, not a folder")
    before = sorted(p.name for p in user.home.iterdir())
    cases = [
        ("/nonexistent/dir/x.geojson", "/nonexistent/dir: No such file or directory"),
        ("existingfile/x.geojson", "existingfile: Not a directory"),
        ("existingfile/sub/", "existingfile/sub: Not a directory"),
    ]
    for output, said in cases:
        result = user.run("download", map_id, "-o", output)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", said + "\n"), output
    assert sorted(p.name for p in user.home.iterdir()) == before
    assert user.api(f"/v1/maps/{map_id}")["download_count"] == 0  # no link was asked for

    (user.home / "cfgfile").write_text("")
    for config, said in (
        ("/proc/nope", "/proc/nope: No such file or directory"),
        (str(user.home / "cfgfile"), f"{user.home / 'cfgfile'}: not a folder"),
    ):
        for args in (("login", user.name), ("download", map_id), ("upload", "here.geojson")):
            result = user.run(*args, MAPSTOCK_CONFIG=config, MAPSTOCK_PASSWORD=PASSWORD)
            assert result.returncode == 1, (config, args, result.stderr)
            assert result.stderr == f"{said} (the client's folder, $MAPSTOCK_CONFIG)\n"
    assert (user.home / "cfgfile").read_text() == ""


def test_ls_says_on_stderr_when_more_maps_match_and_all_follows_them(stack, tmp_path):
    user = member(stack, tmp_path)
    ids = []
    for n in range(3):
        geojson(user.home / f"m{n}.geojson", 0.01, seed=20 + n)
        ids.append(user.ok("upload", f"m{n}.geojson").stdout.strip())
    first = user.ok("ls", "--mine", "--limit", "2", "--json")
    assert [m["id"] for m in json.loads(first.stdout)] == ids[::-1][:2]
    assert first.stderr == "more maps: use --limit N (more than 2) or --all\n"
    every = user.ok("ls", "--mine", "--all", "--json")
    assert [m["id"] for m in json.loads(every.stdout)] == ids[::-1]
    assert every.stderr == ""
    exact = user.ok("ls", "--mine", "--limit", "3")
    assert len(exact.stdout.splitlines()) == 4  # header + 3
    assert exact.stderr == ""
    both = user.run("ls", "--all", "--limit", "5")
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr


def test_each_upload_form_prints_plain_progress_and_the_id_alone(stack, tmp_path):
    user = member(stack, tmp_path)
    small = geojson(user.home / "small.geojson", 0.5, seed=1)  # direct (≤ 4 MiB)
    medium = geojson(user.home / "medium.geojson", 5, seed=2)  # presigned POST (≤ 6 MiB here)
    large = geojson(user.home / "large.geojson", 7, seed=3)  # multipart
    for name, data in (("small", small), ("medium", medium), ("large", large)):
        result = user.ok("upload", f"{name}.geojson", "--visibility", "members", "--wait")
        map_id = result.stdout.strip()
        assert result.stdout == f"{map_id}\n"
        assert str(uuid.UUID(map_id)) == map_id
        lines = result.stderr.splitlines()
        progress = [line for line in lines if line.startswith("upload: ")]
        assert progress, result.stderr
        assert progress[-1].startswith(f"upload: {human(len(data))} of {human(len(data))} ")
        assert "(100%)" in progress[-1]
        assert "\r" not in result.stderr
        assert "\x1b" not in result.stderr  # no terminal codes when stderr is not a terminal
        assert f"map {map_id}: ready" in lines
        doc = user.api(f"/v1/maps/{map_id}")
        assert doc["visibility"] == "members"
        assert doc["sha256"] == hashlib.sha256(data).hexdigest()
    assert list((user.config / "uploads").glob("*.json")) == []


def test_upload_wait_exits_3_when_the_map_is_rejected(stack, tmp_path):
    user = member(stack, tmp_path)
    (user.home / "notes.geojson").write_text("these are not the coordinates you want\n" * 20)
    result = user.run("upload", "notes.geojson", "--wait")
    assert result.returncode == 3, result.stderr
    map_id = result.stdout.strip()
    assert user.api(f"/v1/maps/{map_id}")["status"] == "rejected"
    assert re.search(r"^rejected: \w+: .+", result.stderr, re.M), result.stderr


def _s3(stack: LocalStack) -> tuple[Any, str]:
    return stack.s3(), stack.env()["MAPSTOCK_BUCKET"]


def test_download_checks_the_sha256_and_refuses_a_tampered_object(stack, tmp_path):
    user = member(stack, tmp_path)
    (user.home / "src").mkdir()
    data = geojson(user.home / "src" / "trail.geojson", 1, seed=4)
    map_id = user.ok("upload", "src/trail.geojson", "--wait").stdout.strip()
    doc = user.api(f"/v1/maps/{map_id}")
    assert doc["variants"]["optimized"]["content_encoding"] == "gzip"

    out = user.home / "out"
    out.mkdir()
    # The default download is the gzip-stored variant: saved decoded, both checksums checked.
    got = user.ok("download", map_id, "-o", str(out))
    assert got.stdout == f"{out / 'trail.geojson'}\n"
    assert (out / "trail.geojson").read_bytes() == data
    assert "download: " in got.stderr and "(100%)" in got.stderr
    # Into a folder the client picks the name, so it never replaces a file already there.
    (out / "trail.geojson").write_bytes(b"keep me")
    taken = user.run("download", map_id, "-o", str(out))
    assert (taken.returncode, taken.stdout) == (1, "")
    assert taken.stderr == f"{out / 'trail.geojson'} already exists; choose where with -o PATH\n"
    assert (out / "trail.geojson").read_bytes() == b"keep me"
    assert user.ok("download", map_id, "-o", str(out / "trail.geojson")).stdout  # named: replaced
    assert (out / "trail.geojson").read_bytes() == data
    original = user.ok("download", map_id, "--original", "-o", str(out / "original.geojson"))
    assert (out / "original.geojson").read_bytes() == data, original.stderr
    made = user.ok("download", map_id, "--original", "-o", "made/")  # a folder, made
    assert made.stdout == "made/trail.geojson\n"
    assert (user.home / "made" / "trail.geojson").read_bytes() == data
    # Without -o the map's own name, in the current folder, never overwritten.
    assert user.ok("download", map_id).stdout == "trail.geojson\n"
    assert (user.home / "trail.geojson").read_bytes() == data
    exists = user.run("download", map_id)
    assert exists.returncode == 1
    assert "already exists" in exists.stderr

    s3, bucket = _s3(stack)
    s3.put_object(
        Bucket=bucket,
        Key=f"maps/{map_id}/optimized",
        Body=gzip.compress(data.replace(b'"seed": 4', b'"seed": 5')),
        ContentEncoding="gzip",
        ContentType="application/geo+json",
    )
    tampered = user.run("download", map_id, "-o", str(out / "tampered.geojson"))
    assert tampered.returncode == 1
    assert tampered.stderr.splitlines()[-1].startswith("checksum_mismatch: ")
    assert sorted(p.name for p in out.iterdir()) == ["original.geojson", "trail.geojson"]


def test_ls_show_share_rm_and_their_errors(stack, tmp_path):
    owner = member(stack, tmp_path)
    geojson(owner.home / "peak.geojson", 0.1, seed=6)
    map_id = owner.ok(
        "upload", "peak.geojson", "--title", "Aiguille du Midi", "--description", "cable car",
        "--wait",
    ).stdout.strip()  # fmt: skip
    guest = User(stack, "guest", tmp_path / "guest")
    guest.home.mkdir()

    listed = json.loads(owner.ok("ls", "--mine", "--json").stdout)
    assert [m["id"] for m in listed] == [map_id]
    table = owner.ok("ls", "--q", "aiguille").stdout.splitlines()
    assert table[0].split() == ["ID", "STATUS", "VISIBILITY", "FORMAT", "SIZE", "TITLE"]
    assert table[1].startswith(f"{map_id}  ready")
    assert table[1].endswith("Aiguille du Midi")
    assert json.loads(owner.ok("show", map_id, "--json").stdout)["description"] == "cable car"
    shown = owner.ok("show", map_id).stdout
    assert re.search(r"^status\s+ready$", shown, re.M)
    assert re.search(r"^bbox\s+6\.0,46\.0,", shown, re.M)

    hidden = guest.run("show", map_id)
    assert (hidden.returncode, hidden.stderr) == (1, "not_found: Map not found.\n")
    assert owner.ok("share", map_id, "public").stdout == "public\n"
    assert json.loads(guest.ok("show", map_id, "--json").stdout)["visibility"] == "public"
    assert map_id in guest.ok("ls", "--bbox", "5,45,10,47", "--format", "geojson").stdout
    # Boxes with negative numbers (west of Greenwich) are option values, not options.
    assert map_id in guest.ok("ls", "--bbox", "-10,40,10,50").stdout
    assert map_id not in guest.ok("ls", "--bbox", "-80,23,-76,26", "--json").stdout
    refused = guest.run("rm", map_id)
    assert refused.returncode == 1
    assert refused.stderr.startswith("unauthorized: ")
    bad = owner.run("share", map_id, "everyone")
    assert bad.returncode == 2  # usage: argparse names the choices
    assert "invalid choice" in bad.stderr

    assert owner.run("rm", map_id).returncode == 0
    for args in (("rm", map_id), ("show", map_id), ("download", map_id), ("rm", "not-an-id")):
        result = owner.run(*args)
        assert (result.returncode, result.stderr) == (1, "not_found: Map not found.\n"), args

    missing = owner.run("upload", "nowhere.tif")
    assert (missing.returncode, missing.stderr) == (1, "nowhere.tif: No such file or directory\n")
    geojson(guest.home / "g.geojson", 0.01)
    anonymous = guest.run("upload", "g.geojson")
    assert anonymous.returncode == 1
    assert anonymous.stderr == "unauthorized: Log in first: mapstock login USERNAME\n"


def test_unreachable_api_is_one_line_and_non_zero(tmp_path):
    # A port nothing listens on (bound and closed): connection refused, fast.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in ORIGINAL_ENV.items() if not k.startswith("MAPSTOCK_")}
    env.update(MAPSTOCK_API=f"http://127.0.0.1:{port}", MAPSTOCK_CONFIG=str(tmp_path / "c"))
    started = time.monotonic()
    result = subprocess.run(
        [str(MAPSTOCK), "show", str(uuid.uuid4())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"unavailable: cannot reach http://127.0.0.1:{port}")
    assert len(result.stderr.splitlines()) == 1
    assert time.monotonic() - started < 30
