"""AWS stand-in for the deploy tests: the session's moto server, taught the CloudFormation types
it lacks, reached through AWS_ENDPOINT_URL exactly as the deploy script reaches AWS."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from devstack import aws
from tests.deploy import moto_cfn

DEPLOY_VARIABLES = ("STAGE", "CONFIRM", "AWS_PROFILE", "AWS_SESSION_TOKEN", "MAPSTOCK_DLQ")


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the developer's shell holds, nothing here may reach AWS or deploy for real."""
    import os

    for key in [*DEPLOY_VARIABLES, *(k for k in os.environ if k.startswith("MAPSTOCK_"))]:
        monkeypatch.delenv(key, raising=False)
    for key, value in aws.LOCAL_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    # A closed loopback port: any call a test did not point at moto fails at once.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """boto3 (here and in subprocesses) talks to moto on 127.0.0.1 only."""
    moto_cfn.install()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


def _throwaway_role(database_url: str, prefix: str) -> Iterator[str]:
    from chalicelib import db

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    yield name
    conn: Any = db.connect(database_url)
    try:
        conn.run(f"DROP ROLE IF EXISTS {name}")
    finally:
        conn.close()


@pytest.fixture
def app_role(database_url: str) -> Iterator[str]:
    """The API's login role name, unique to this test, dropped afterwards (roles are
    cluster-wide)."""
    yield from _throwaway_role(database_url, "mapstock_app")


@pytest.fixture
def pipeline_role(database_url: str) -> Iterator[str]:
    """The event functions' login role name, unique to this test, dropped afterwards."""
    yield from _throwaway_role(database_url, "mapstock_pipe")
