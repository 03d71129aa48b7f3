"""`python -m deploy` refusals (nothing is touched) and the layer builder's pruning."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from deploy import layer
from deploy.__main__ import main


def test_destroying_prod_needs_its_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["destroy", "--stage", "prod"]) == 1
    assert "pass --confirm prod" in capsys.readouterr().err


def test_deploy_without_a_migration_url_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "--stage", "dev"]) == 1
    assert "--admin-database-url" in capsys.readouterr().err


def test_first_deploy_needs_the_database_host(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deploy", "--stage", "prod", "--skip-migrations"]) == 1
    assert "--db-host" in capsys.readouterr().err
    stacks = boto3.client("cloudformation").list_stacks()["StackSummaries"]
    assert not [s for s in stacks if s["StackName"] == "mapstock-prod-resources"]


def test_one_login_for_both_roles_is_refused_before_any_change(
    aws_env: str, database_url: str, app_role: str
) -> None:
    """Both database secrets naming one user would give that login both roles' rights."""
    import json

    from chalicelib import db
    from deploy import database

    sm = boto3.client("secretsmanager")
    login = json.dumps({"username": app_role, "password": "pw"})
    arns = [
        sm.create_secret(Name=f"{app_role}/{kind}", SecretString=login)["ARN"]
        for kind in ("database", "pipeline-database")
    ]
    try:
        with pytest.raises(database.MigrationError, match="same user"):
            database.migrate(sm, *arns, database_url)
    finally:
        for arn in arns:
            sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    conn = db.connect(database_url)
    try:
        assert conn.run("SELECT 1 FROM pg_roles WHERE rolname = :n", n=app_role) == []
    finally:
        conn.close()


def test_layer_drops_what_the_function_zip_already_ships(tmp_path: Path) -> None:
    site = tmp_path / "python"
    for dist, module in (("numpy-2.4.6", "numpy"), ("rasterio-1.4.4", "rasterio")):
        (site / module).mkdir(parents=True)
        (site / module / "__init__.py").write_text("")
        info = site / f"{dist}.dist-info"
        info.mkdir()
        (info / "RECORD").write_text(f"{module}/__init__.py,,\n{dist}.dist-info/RECORD,,\n")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# shipped in the function zip\nnumpy==2.4.6\nPyJWT>=2\n")

    layer._prune(site, layer._names_in(requirements))

    assert not (site / "numpy" / "__init__.py").exists()
    assert not (site / "numpy-2.4.6.dist-info").exists()
    assert (site / "rasterio" / "__init__.py").exists()
    assert layer._names_in(requirements) == {"numpy", "pyjwt"}
