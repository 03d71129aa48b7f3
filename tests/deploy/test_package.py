"""`chalice package --pkg-format terraform` of each stage, as the deploy renders it: it succeeds
offline and holds the expected functions, triggers and settings, and the one zip all functions
share holds what requirements.txt names and none of the processor's layer. (Chalice's
CloudFormation packager refuses on_s3_event, hence Terraform.)"""

from __future__ import annotations

import ast
import json
import os
import sys
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from chalicelib.formats.inspect import LAYER_MODULES
from deploy import chalice_project, layer
from deploy.stage import ROOT, load_stage, read_config, render_config
from tests.deploy import wheelhouse

LAYER = "arn:aws:lambda:us-east-1:123456789012:layer:mapstock-processing:7"
OUTPUTS = {
    "ProcessingQueueUrl": "https://sqs.example/123/q",
    "DatabaseSecretArn": "arn:secret:database",
    "PipelineDatabaseSecretArn": "arn:secret:pipeline-database",
    "JwtSecretArn": "arn:secret:jwt",
    "ExternalQueueUrl": "https://sqs.example/123/x",
}


REQUIREMENTS = ROOT / "requirements.txt"
# The zip all six functions share (requirements.txt's libraries and chalicelib): 1.1 MB zipped,
# 3.0 MB unzipped as a deploy builds it (bench/package_size.py); numpy alone would add 73 MB.
ZIP_LIMIT, UNZIPPED_LIMIT = 2_000_000, 5_000_000
# Libraries the Lambda runtime itself provides, and Chalice's own runtime (packaged by Chalice).
RUNTIME_PROVIDED = {"boto3", "botocore", "chalice"}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    wheelhouse.build(REQUIREMENTS, out)
    return out


@pytest.fixture(scope="module", params=["dev", "prod"])
def packaged(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, wheels: Path
) -> Iterator[tuple[str, dict[str, Any], Path]]:
    stage_name = request.param
    config = render_config(read_config(), stage_name, OUTPUTS, {"processing": LAYER})
    out = tmp_path_factory.mktemp(f"tf-{stage_name}")
    state = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as env:
        # Packaging needs a region name, never a call: nothing leaves the machine.
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        env.delenv("AWS_PROFILE", raising=False)
        # Chalice's pip resolves requirements.txt from the rebuilt wheels only, never an index.
        env.setenv("PIP_CONFIG_FILE", os.devnull)
        env.setenv("PIP_NO_INDEX", "1")
        env.setenv("PIP_FIND_LINKS", str(wheels))
        with chalice_project.rendered(config, state) as project:
            chalice_project.run(
                chalice_project.command_prefix(None),
                project,
                load_stage(stage_name),
                "package",
                "--pkg-format",
                "terraform",
                str(out),
            )
    assert (out / "deployment.zip").stat().st_size > 0
    resources = json.loads((out / "chalice.tf.json").read_text())["resource"]
    yield stage_name, resources, out / "deployment.zip"


def test_functions_and_their_sizes(packaged: tuple[str, dict[str, Any], Path]) -> None:
    stage, resources, _ = packaged
    functions = resources["aws_lambda_function"]
    assert set(functions) == set(load_stage(stage).functions)
    api, processor = functions["api_handler"], functions["on_processing_job"]
    assert api["function_name"] == f"mapstock-{stage}"
    assert (api["memory_size"], api["timeout"]) == (1769, 28)
    assert (processor["memory_size"], processor["timeout"]) == (4096, 600)
    assert processor["layers"] == [LAYER]
    assert [name for name, f in functions.items() if f.get("layers")] == ["on_processing_job"]
    assert functions["sweeper"]["reserved_concurrent_executions"] == 1
    assert "reserved_concurrent_executions" not in processor
    for name, function in functions.items():
        env = function["environment"]["variables"]
        # Each function is given only its own role's database login.
        secrets = {k: v for k, v in env.items() if "DATABASE_URL" in k}
        if name == "api_handler":
            assert secrets == {"DATABASE_URL_ARN": OUTPUTS["DatabaseSecretArn"]}
        else:
            assert secrets == {"PIPELINE_DATABASE_URL_ARN": OUTPUTS["PipelineDatabaseSecretArn"]}
        assert env["MAPSTOCK_BUCKET"] == f"mapstock-maps-{stage}"
        assert function["tags"]["stage"] == stage and function["tags"]["app"] == "mapstock"
    assert (
        processor["environment"]["variables"]["EXTERNAL_QUEUE_URL"] == OUTPUTS["ExternalQueueUrl"]
    )


def test_triggers(packaged: tuple[str, dict[str, Any], Path]) -> None:
    stage, resources, _ = packaged
    (notification,) = resources["aws_s3_bucket_notification"].values()
    assert notification["bucket"] == f"mapstock-maps-{stage}"
    (upload,) = notification["lambda_function"]
    assert upload["filter_prefix"] == "maps/"
    assert upload["events"] == ["s3:ObjectCreated:*"]
    assert "on_upload" in upload["lambda_function_arn"]
    mappings = resources["aws_lambda_event_source_mapping"]
    queues = {
        m["function_name"].split(".")[1]: (m["event_source_arn"].rsplit(":", 1)[1], m["batch_size"])
        for m in mappings.values()
    }
    assert queues == {
        "on_processing_job": (f"mapstock-processing-{stage}", 10),
        "on_dead_letter": (f"mapstock-processing-{stage}-dlq", 10),
    }
    schedules = {
        k: r["schedule_expression"] for k, r in resources["aws_cloudwatch_event_rule"].items()
    }
    assert schedules["sweeper-event"] == "rate(5 minutes)"


def test_roles_carry_the_policy_files_verbatim(packaged: tuple[str, dict[str, Any], Path]) -> None:
    stage, resources, _ = packaged
    config = read_config()["stages"][stage]["lambda_functions"]
    for handler, settings in config.items():
        policy = json.loads(resources["aws_iam_role_policy"][f"{handler}_role"]["policy"])
        on_disk = json.loads((ROOT / ".chalice" / settings["iam_policy_file"]).read_text())
        assert policy == on_disk, handler
        role = resources["aws_iam_role"][f"{handler}_role"]
        assert role["name"] == f"mapstock-{stage}-{handler}"


def test_package_leaves_the_repository_untouched(
    packaged: tuple[str, dict[str, Any], Path],
) -> None:
    assert not (ROOT / ".chalice" / "deployments" / "chalice.tf.json").exists()
    assert "{stack:" in (Path(ROOT) / ".chalice" / "config.json").read_text()


def _top_level(dist_name: str) -> set[str]:
    """The importable names a distribution installs (from the dev venv, which has them all)."""
    files = metadata.distribution(dist_name).files or []
    names = {f.parts[0].removesuffix(".py") for f in files if f.parts[0] != ".."}
    return {
        n for n in names if not n.endswith((".dist-info", ".libs", ".pth")) and n.isidentifier()
    }


def _layer() -> set[str]:
    return layer._names_in(layer.REQUIREMENTS)


def test_the_shared_zip_holds_no_processor_library(
    packaged: tuple[str, dict[str, Any], Path],
) -> None:
    _, resources, archive = packaged
    functions = resources["aws_lambda_function"].values()
    assert {f["filename"] for f in functions} == {"${path.module}/deployment.zip"}
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
    top = {info.filename.split("/", 1)[0].removesuffix(".py") for info in infos}
    shipped = {
        layer._normalise(name.removesuffix(".dist-info").rsplit("-", 1)[0])
        for name in top
        if name.endswith(".dist-info")
    }
    # What requirements.txt names is there (so the check below looks at a real package)...
    assert layer._names_in(REQUIREMENTS) <= shipped
    assert {"pg8000", "bcrypt", "jwt", "multipart", "chalicelib", "app"} <= top
    # ...and nothing of the layer, by distribution or by importable name.
    assert shipped & _layer() == set()
    layer_modules = set().union(*(_top_level(name) for name in _layer()))
    assert {"numpy", "PIL", "tifffile", "pypdf", "shapefile", "defusedxml"} <= layer_modules
    assert top & layer_modules == set()
    assert archive.stat().st_size < ZIP_LIMIT
    assert sum(info.file_size for info in infos) < UNZIPPED_LIMIT


def _third_party_imports(path: Path) -> tuple[set[str], set[str]]:
    """(imported at module level, imported inside a function) top-level non-stdlib names;
    imports under `if TYPE_CHECKING:` run for the type checker only and count as neither."""
    eager: set[str] = set()
    lazy: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module]
            for name in names:
                root = name.split(".")[0]
                if root not in sys.stdlib_module_names and root not in ("chalicelib", "__future__"):
                    (lazy if in_function else eager).add(root)
            if isinstance(child, ast.If) and ast.unparse(child.test).endswith("TYPE_CHECKING"):
                for orelse in child.orelse:
                    visit(orelse, in_function)
                continue
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return eager, lazy


def test_every_library_only_the_processor_imports_is_in_its_layer() -> None:
    distributions = metadata.packages_distributions()
    shared, processor_only, processor_eager = set(), set(), set()
    for path in (ROOT / "chalicelib").rglob("*.py"):
        eager, lazy = _third_party_imports(path)
        if path.relative_to(ROOT / "chalicelib").parts[0] in ("formats", "pipeline", "previews"):
            processor_only |= eager | lazy
            processor_eager |= eager
        else:
            shared |= eager | lazy

    def dists(modules: set[str]) -> set[str]:
        return {layer._normalise(d) for m in modules for d in distributions[m]}

    in_zip, in_layer = layer._names_in(REQUIREMENTS), layer._names_in(layer.REQUIREMENTS)
    assert dists(shared - RUNTIME_PROVIDED) <= in_zip
    assert in_zip & in_layer == set()
    assert dists(processor_only - shared - RUNTIME_PROVIDED) <= in_layer
    assert dists(LAYER_MODULES) <= in_layer
    # chalicelib.formats is imported by the event functions (handlers/): its modules load
    # the layer's libraries only inside functions, where the processor alone calls them.
    assert processor_eager <= RUNTIME_PROVIDED
