"""The drawing side of vector previews: projection to the drawing plane, a 512-pixel canvas that
draws lines, polygon outlines and points as they stream in, and feature sampling.

The drawing plane is Web Mercator: the plane of the web maps these previews sit next to (and of
the tilesets' own tiles), and conformal, so shapes are not squashed at any latitude (a plain
lon/lat plot halves the width of a map at 60 degrees). Layers in another known CRS are
reprojected (lon/lat with numpy, other EPSG codes through PROJ); latitudes are clamped to the
Mercator limit (+-85.05). Data whose CRS is unknown is drawn in its own plane, as it is.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib.formats import geo
from chalicelib.previews.base import PREVIEW_MAX_SIDE, NoPreview, fit

if TYPE_CHECKING:
    import numpy

EARTH_RADIUS = 6378137.0
MERCATOR_MAX_LAT = 85.0511287798066
# Features drawn at most; more are sampled evenly (every n-th), so that a 1M-feature file
# costs its parse plus this many drawn features (bench/preview.py).
MAX_FEATURES = 100_000
MAX_VERTICES = 4_000_000  # drawn (after merging vertices on the same pixel); then drawing stops
MAX_PART_POINTS = 100_000  # a longer part is drawn in pieces of this many points
MAX_ASPECT = 8.0  # a thinner extent (one straight road) is padded, not drawn as a sliver
MARGIN = 6  # pixels kept free around the drawing, so that edge points show in full
BACKGROUND = (247, 246, 240)
LINE = (31, 78, 156)
POINT = (200, 40, 40)

Project = Callable[["numpy.ndarray"], "numpy.ndarray"]


def lonlat_to_mercator(xy: numpy.ndarray) -> numpy.ndarray:
    import numpy

    lon = xy[:, 0]
    lat = numpy.clip(xy[:, 1], -MERCATOR_MAX_LAT, MERCATOR_MAX_LAT)
    x = numpy.radians(lon) * EARTH_RADIUS
    y = numpy.log(numpy.tan(numpy.pi / 4 + numpy.radians(lat) / 2)) * EARTH_RADIUS
    return numpy.stack([x, y], axis=1)


def _identity(xy: numpy.ndarray) -> numpy.ndarray:
    return xy


@functools.lru_cache(maxsize=32)
def _proj_transformer(epsg: int) -> Any:
    """PROJ's EPSG:epsg -> lon/lat transformer, or None (unknown code, pyproj absent)."""
    try:
        from pyproj import Transformer

        return Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4326", always_xy=True)
    except Exception:  # pyproj's CRSError and PROJ failures: the layer is just not placed
        return None


def projector(crs: Any) -> Project | None:
    """How coordinates in `crs` ("EPSG:n") reach the Web Mercator plane; None when unknown."""
    epsg = geo.epsg_code(crs if isinstance(crs, str) else None)
    if epsg is None:
        return None
    if epsg in geo.GEOGRAPHIC_EPSG:
        return lonlat_to_mercator
    if epsg in geo.WEB_MERCATOR_EPSG:
        return _identity
    transformer = _proj_transformer(epsg)
    if transformer is None:
        return None

    def project(xy: numpy.ndarray) -> numpy.ndarray:
        import numpy

        lon, lat = transformer.transform(xy[:, 0], xy[:, 1])
        return lonlat_to_mercator(numpy.stack([lon, lat], axis=1))

    return project


def mercator_extent(bbox: Any) -> tuple[float, float, float, float] | None:
    """A WGS84 [w, s, e, n] bbox as an extent in the Web Mercator plane, or None."""
    import numpy

    if not (isinstance(bbox, list | tuple) and len(bbox) == 4):
        return None
    west, south, east, north = bbox
    if west > east:  # across the antimeridian (RFC 7946 5.2): east unwrapped, past 180
        east += 360.0
    corners = lonlat_to_mercator(numpy.array([[west, south], [east, north]], numpy.float64))
    return (*(float(v) for v in corners[0]), *(float(v) for v in corners[1]))  # type: ignore[return-value]


def union(extents: list[tuple[float, float, float, float] | None]) -> Any:
    boxes = [e for e in extents if e is not None]
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


class Sampler:
    """Every n-th of `count` features, so that at most MAX_FEATURES are drawn."""

    def __init__(self, count: Any):
        total = count if isinstance(count, int) and count > 0 else 0
        self.stride = max(1, math.ceil(total / MAX_FEATURES))

    def take(self, index: int) -> bool:
        return index % self.stride == 0


class Canvas:
    """A light image of the extent (x0, y0, x1, y1) of the drawing plane (y up), drawn into."""

    def __init__(self, extent: tuple[float, float, float, float]):
        from PIL import Image, ImageDraw

        x0, y0, x1, y1 = (float(v) for v in extent)
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x1 < x0 or y1 < y0:
            raise NoPreview("no extent to draw")
        span = max(x1 - x0, y1 - y0) or 1.0  # a single point: any square around it
        width, height = max(x1 - x0, span / MAX_ASPECT), max(y1 - y0, span / MAX_ASPECT)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        self.size = fit(width, height, PREVIEW_MAX_SIDE)
        self.scale = min((self.size[0] - 2 * MARGIN) / width, (self.size[1] - 2 * MARGIN) / height)
        self.origin = (cx - self.size[0] / 2 / self.scale, cy + self.size[1] / 2 / self.scale)
        # An extent past 180 E (a bbox across the antimeridian): x west of the gap between the
        # data's east and west ends is drawn one world further east, so Fiji is one piece.
        world = 2 * math.pi * EARTH_RADIUS
        self.wrap_below = (x0 + x1 - world) / 2 if x1 > world / 2 + 1.0 else None
        self.world = world
        self.image = Image.new("RGB", self.size, BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)
        self.dots: Any = None
        self.vertices = 0
        self.drawn = 0

    @property
    def full(self) -> bool:
        return self.vertices >= MAX_VERTICES

    def pixels(self, xy: numpy.ndarray) -> numpy.ndarray:
        import numpy

        xy = xy[numpy.isfinite(xy).all(axis=1)]
        x = xy[:, 0]
        if self.wrap_below is not None:
            x = numpy.where(x < self.wrap_below, x + self.world, x)
        px = (x - self.origin[0]) * self.scale
        py = (self.origin[1] - xy[:, 1]) * self.scale
        # Far outside the canvas (a stray coordinate): clipped so that Pillow gets small ints.
        return numpy.stack([px, py], axis=1).clip(-1e4, 1e4).round().astype(numpy.int32)

    def line(self, xy: numpy.ndarray) -> None:
        """A line (or a ring, closed by its own last point) in plane coordinates."""
        import numpy

        if self.full:
            return
        px = self.pixels(xy)
        if len(px) > 1:  # vertices on the same pixel as the previous one add nothing
            px = px[numpy.concatenate([[True], (px[1:] != px[:-1]).any(axis=1)])]
        if len(px) == 1:
            self.points(xy[:1])
            return
        if len(px):
            self.draw.line(px.ravel().tolist(), fill=LINE, width=1)
            self.vertices += len(px)
            self.drawn += 1

    def points(self, xy: numpy.ndarray) -> None:
        import numpy

        px = self.pixels(xy)
        inside = (px[:, 0] >= 0) & (px[:, 0] < self.size[0])
        inside &= (px[:, 1] >= 0) & (px[:, 1] < self.size[1])
        px = px[inside]
        if len(px):
            if self.dots is None:
                self.dots = numpy.zeros(self.size[::-1], bool)
            self.dots[px[:, 1], px[:, 0]] = True
            self.drawn += len(px)

    def finish(self) -> Any:
        """The drawing; raises NoPreview when nothing was drawn (no features, or none placed)."""
        import numpy
        from PIL import Image

        if not self.drawn:
            raise NoPreview("no features to draw")
        if self.dots is not None:  # each point a 3 x 3 dot, on top of the lines
            dots = self.dots.copy()
            dots[1:] |= self.dots[:-1]
            dots[:-1] |= self.dots[1:]
            wide = dots.copy()
            wide[:, 1:] |= dots[:, :-1]
            wide[:, :-1] |= dots[:, 1:]
            colour = Image.new("RGB", self.size, POINT)
            self.image.paste(colour, (0, 0), Image.fromarray(wide.astype(numpy.uint8) * 255, "L"))
        return self.image


class Layer:
    """Geometries of one CRS onto a canvas; points are batched (most big files are points)."""

    def __init__(self, canvas: Canvas, project: Project):
        self.canvas = canvas
        self.project = project
        self.pending: list[Any] = []

    def add(self, kind: str, coords: Any) -> None:
        """Draw one part: kind "point" (coords: positions), "line" or "ring" (a ring is a line
        through its own closing point); unreadable coordinates are skipped."""
        if kind == "point" and not hasattr(coords, "shape"):
            self.pending.extend(coords)
            if len(self.pending) >= 65536:
                self.flush()
            return
        xy = as_xy(coords)
        if xy is None:
            return
        xy = self.project(xy)
        if kind == "point":
            self.canvas.points(xy)
        else:
            for start in range(0, len(xy), MAX_PART_POINTS):
                self.canvas.line(xy[max(0, start - 1) : start + MAX_PART_POINTS])

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        xy = as_xy(pending)
        if xy is not None:
            self.canvas.points(self.project(xy))


def as_xy(coords: Any) -> numpy.ndarray | None:
    """Positions (a list of [x, y, ...] or an (n, >=2) array) as an (n, 2) float array."""
    import numpy

    if hasattr(coords, "shape"):
        return coords[:, :2] if coords.ndim == 2 and coords.shape[1] >= 2 else None
    if not coords:
        return None
    try:
        xy = numpy.asarray(coords, numpy.float64)
    except (ValueError, TypeError):  # mixed 2D/3D positions, or junk
        try:
            xy = numpy.asarray([p[:2] for p in coords], numpy.float64)
        except (ValueError, TypeError, IndexError, KeyError):
            return None
    return xy[:, :2] if xy.ndim == 2 and xy.shape[1] >= 2 else None
