"""The README's curl walkthrough, run as written against a real `make run` stack."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import ORIGINAL_ENV
from tests.e2e.stack import ROOT, LocalStack

pytestmark = pytest.mark.e2e


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(
        r"<!-- walkthrough:start -->\n```sh\n(.*?)```\n<!-- walkthrough:end -->", readme, re.S
    )
    assert block, "README lost its walkthrough markers"
    return block.group(1)


@pytest.mark.skipif(shutil.which("jq") is None, reason="the walkthrough uses jq")
def test_readme_walkthrough_runs_as_written(local_stack: LocalStack):
    # Run where a user would (next to the stack's .local), with the project's virtualenv.
    venv = local_stack.home / ".venv"
    if not venv.exists():
        venv.symlink_to(ROOT / ".venv")
    env = {k: v for k, v in ORIGINAL_ENV.items() if k != "DATABASE_URL"}
    env.update(API=local_stack.url, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", walkthrough()],
        cwd=local_stack.home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("created user alice (member, active until")
    assert '"status":"ready","format":"geojson"' in result.stdout
    assert '"bbox":[6.86,45.83,6.86,45.83]' in result.stdout
    assert "download matches the upload" in lines
    assert lines[-2:] == ["public", "Mont Blanc summit"]


def test_unknown_paths_are_contract_shaped_404s(local_stack: LocalStack):
    import requests

    # ("/" itself is the web application's page: POST / is a 405, below.)
    for method, path in (("GET", "/v1/nope"), ("POST", "/nope"), ("GET", "/v1/maps/x/y/z")):
        for headers in ({}, {"Authorization": "Bearer whatever"}):
            response = requests.request(method, local_stack.url + path, headers=headers, timeout=10)
            assert response.status_code == 404, (method, path, response.text)
            doc = response.json()
            assert doc["code"] == "not_found"
            assert doc["request_id"] == response.headers["X-Request-Id"]
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    response = requests.post(local_stack.url + "/", timeout=10)
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
