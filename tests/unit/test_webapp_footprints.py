"""The web app's footprints (webapp/src/map.js) of bboxes across the antimeridian, run by node
(which `make test` needs anyway, to build the web app)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

MAP_JS = Path(__file__).resolve().parents[2] / "webapp" / "src" / "map.js"
SCRIPT = """
globalThis.__MAPSTOCK_ASSETS__ = {};
const { footprints } = await import(process.argv[1]);
const items = JSON.parse(process.argv[2]);
console.log(JSON.stringify(footprints(items, (id) => id)));
"""


def _footprints(boxes: dict[str, list[float]]) -> dict[str, list[dict[str, Any]]]:
    node = shutil.which("node")
    assert node, "node is needed to build the web app"
    items = [{"id": k, "metadata": {"bbox": v}} for k, v in boxes.items()]
    out = subprocess.run(
        [node, "--input-type=module", "-e", SCRIPT, MAP_JS.as_uri(), json.dumps(items)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    by_map: dict[str, list[dict[str, Any]]] = {}
    drawn = json.loads(out.stdout)  # polygons, then the (clustered) points
    for feature in drawn["polygons"]["features"] + drawn["points"]["features"]:
        by_map.setdefault(feature["id"], []).append(feature["geometry"])
    return by_map


def test_a_bbox_across_the_antimeridian_is_one_footprint_with_its_point_on_the_meridian():
    drawn = _footprints({"pacific": [170, -20, -170, -10], "alps": [6, 45, 8, 47]})
    polygon, point = drawn["pacific"]
    assert polygon["type"] == "Polygon"
    ring = polygon["coordinates"][0]
    # Unwrapped: east past 180, so MapLibre draws it in one piece across the meridian.
    assert {tuple(p) for p in ring} == {(170, -20), (190, -20), (190, -10), (170, -10)}
    assert point == {"type": "Point", "coordinates": [180, -15]}
    assert drawn["alps"][1] == {"type": "Point", "coordinates": [7, 46]}


def test_the_point_of_a_footprint_mostly_east_of_the_meridian_wraps_back():
    drawn = _footprints({"fiji": [178, -20, -160, -10]})
    assert drawn["fiji"][1]["coordinates"] == [-171, -15]
