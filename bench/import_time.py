"""Cold-start import cost: `import app` against `import chalice, boto3, pg8000`.

Prints the median over N fresh interpreters of the cumulative import time (python -X importtime)
of the top-level modules. Target: the app adds at most 20 % over the base libraries, because
heavy libraries (boto3, the processing readers) load lazily, only where used.

    .venv/bin/python bench/import_time.py [runs]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cumulative_ms(statement: str) -> float:
    """Sum of the cumulative import time of the statement's top-level imports, in ms."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    total = 0
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        if not name.startswith("  "):  # top level: not indented under another import
            total += int(cumulative_us)
    return total / 1000


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    cases = {
        "import app": "import app",
        "import chalice, boto3, pg8000": "import chalice, boto3, pg8000",
        "import chalice, pg8000": "import chalice, pg8000",
    }
    medians = {}
    for label, statement in cases.items():
        samples = [cumulative_ms(statement) for _ in range(runs)]
        medians[label] = statistics.median(samples)
        print(f"{label:<32} median {medians[label]:7.1f} ms  (min {min(samples):.1f}, n={runs})")
    ratio = medians["import app"] / medians["import chalice, boto3, pg8000"]
    print(f"app / (chalice+boto3+pg8000) = {ratio:.2f}  (target <= 1.20)")


if __name__ == "__main__":
    main()
