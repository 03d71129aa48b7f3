"""Vector previews of maps across the antimeridian: drawn in one piece over the crossing bbox,
not as a band round the world (nor refused for an extent whose west > east)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy
from PIL import Image

from chalicelib.formats.inspect import inspect_file
from chalicelib.previews.canvas import LINE
from chalicelib.previews.render import render_preview


def _box(west: float, south: float, east: float, north: float) -> list[list[list[float]]]:
    return [[[west, south], [east, south], [east, north], [west, north], [west, south]]]


def test_fiji_split_at_180_is_drawn_in_one_piece(tmp_path: Path) -> None:
    path = tmp_path / "fiji.geojson"
    parts = [_box(177, -19, 180, -15), _box(-180, -19, -178, -15)]
    path.write_text(
        json.dumps({"type": "Feature", "geometry": {"type": "MultiPolygon", "coordinates": parts}})
    )
    found = inspect_file(str(path))
    assert found.metadata["bbox"] == [177.0, -19.0, -178.0, -15.0]
    workdir = tmp_path / "previews"
    workdir.mkdir()

    result = render_preview(str(path), found, str(workdir), deadline=time.monotonic() + 60)

    assert result is not None
    assert 1.0 < result.width / result.height < 1.5  # 5 degrees by 4: not a 360-degree band
    with Image.open(result.path) as img:
        rgb = numpy.asarray(img.convert("RGB"))
    lines = (numpy.abs(rgb.astype(int) - LINE).sum(axis=2) < 60).any(axis=0)
    columns = numpy.flatnonzero(lines)
    # Both parts drawn: outlines from the left edge (177 E) to the right edge (178 W), and
    # the two meet at 180, three fifths of the way across.
    assert columns[0] < result.width * 0.1 and columns[-1] > result.width * 0.9
    middle = int(columns[0] + (columns[-1] - columns[0]) * 3 / 5)
    assert lines[middle - 2 : middle + 3].any()
