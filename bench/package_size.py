"""What Lambda gets, measured with the deploy's own packaging (needs PyPI): the function zip
(`chalice package`, shared by all six functions), the processing layer (deploy/layer.py's
build) and the processor's total (function + layer, unzipped) against Lambda's 250 MB cap.

    .venv/bin/python bench/package_size.py [--stage dev] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy import chalice_project, layer  # noqa: E402
from deploy.stage import load_stage, read_config, render_config  # noqa: E402

LAMBDA_UNZIPPED_CAP = 250 * 1000 * 1000  # bytes, function + layers
OUTPUTS = {
    "ProcessingQueueUrl": "https://sqs.example/123/q",
    "DatabaseSecretArn": "arn:secret:database",
    "PipelineDatabaseSecretArn": "arn:secret:pipeline-database",
    "JwtSecretArn": "arn:secret:jwt",
    "ExternalQueueUrl": "https://sqs.example/123/x",
}
LAYER_ARN = "arn:aws:lambda:us-east-1:123456789012:layer:mapstock-processing:1"


def unzipped(archive: Path) -> int:
    with zipfile.ZipFile(archive) as zf:
        return sum(info.file_size for info in zf.infolist())


def top_level(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as zf:
        return sorted({name.split("/", 1)[0] for name in zf.namelist()})


def function_zip(stage_name: str, work: Path) -> Path:
    """`chalice package` of the stage, as the deploy renders its project."""
    config = render_config(read_config(), stage_name, OUTPUTS, {"processing": LAYER_ARN})
    out = work / "package"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with chalice_project.rendered(config, work / "state") as project:
        chalice_project.run(
            chalice_project.command_prefix(None),
            project,
            load_stage(stage_name),
            "package",
            "--pkg-format",
            "terraform",
            str(out),
        )
    return out / "deployment.zip"


def mb(n: int) -> str:
    return f"{n / 1e6:7.1f} MB"


def report(label: str, archive: Path) -> None:
    print(f"{label}: zip {mb(archive.stat().st_size)}, unzipped {mb(unzipped(archive))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--keep", type=Path, help="leave the zips in this directory")
    parser.add_argument(
        "--platform",
        action="append",
        help=f"build the layer for these pip platforms (default: the deploy's, {layer.PLATFORM})",
    )
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="mapstock-size-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        function = function_zip(args.stage, work)
        report("function zip", function)
        print("function zip holds:", " ".join(top_level(function)))
        platforms = tuple(args.platform or (layer.PLATFORM,))
        built = layer.build(out_dir=work / "layer", platforms=platforms)
        report(f"layer ({', '.join(platforms)})", built)
        total = unzipped(function) + unzipped(built)
        print(
            f"processor (function + layer) unzipped {mb(total)} of 250 MB: "
            f"{(LAMBDA_UNZIPPED_CAP - total) / 1e6:.1f} MB left"
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
