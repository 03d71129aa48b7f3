"""STAC validation with no network: the JSON schemas vendored in tests/stac_schemas, pystac and
stac-validator pointed at them, and a guard that refuses (and records) any connection beyond
loopback, so a validator that tried to fetch something fails loudly instead of passing.

The schemas are copies of STAC 1.1.0 (item, catalog, collection and what they reference, as
pystac ships them), GeoJSON's Feature and Geometry, and the projection v2.0.0 and file v2.1.0
extensions (from their repositories' tags). All are Apache-2.0 licensed.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).resolve().parent / "stac_schemas"
_STAC = "https://schemas.stacspec.org/v1.1.0"
_ITEM_PARTS = (
    "bands",
    "basics",
    "common",
    "data-values",
    "datetime",
    "instrument",
    "item",
    "licensing",
    "provider",
)
# Each schema's canonical URL -> its file under tests/stac_schemas.
FILES: dict[str, str] = {
    **{
        f"{_STAC}/item-spec/json-schema/{n}.json": f"stac-spec/v1.1.0/{n}.json" for n in _ITEM_PARTS
    },
    f"{_STAC}/catalog-spec/json-schema/catalog.json": "stac-spec/v1.1.0/catalog.json",
    f"{_STAC}/collection-spec/json-schema/collection.json": "stac-spec/v1.1.0/collection.json",
    "https://geojson.org/schema/Feature.json": "geojson/Feature.json",
    "https://geojson.org/schema/Geometry.json": "geojson/Geometry.json",
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json": (
        "extensions/projection-v2.0.0.json"
    ),
    "https://stac-extensions.github.io/file/v2.1.0/schema.json": "extensions/file-v2.1.0.json",
}
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def schema_map() -> dict[str, str]:
    """stac-validator's schema_map: URL -> local file (a fresh dict: StacValidate edits it)."""
    return {url: str(SCHEMAS / path) for url, path in FILES.items()}


def pystac_validator() -> Any:
    """A pystac JSON-schema validator whose cache holds every vendored schema."""
    from pystac.validation import JsonSchemaSTACValidator

    validator = JsonSchemaSTACValidator()
    for url, path in FILES.items():
        validator.schema_cache[url] = json.loads((SCHEMAS / path).read_text())
    return validator


def stac_validate(**options: Any) -> Any:
    """A stac-validator StacValidate using the vendored schemas."""
    from stac_validator.validate import StacValidate

    return StacValidate(schema_map=schema_map(), **options)


class Guard:
    """Hosts a connection was refused to while the guard was up."""

    def __init__(self) -> None:
        self.refused: list[str] = []


@contextmanager
def offline(monkeypatch: Any) -> Iterator[Guard]:
    """Loopback only, and every STAC tool on the vendored schemas (pystac's default validator,
    StacValidate as stac-api-validator and stac-check create it)."""
    import pystac.validation
    import stac_api_validator.validations
    import stac_check.lint
    from stac_validator.validate import StacValidate

    guard = Guard()
    real = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in LOOPBACK:
            guard.refused.append(name)
            raise socket.gaierror(socket.EAI_NONAME, f"offline test: {name} refused")
        return real(host, *args, **kwargs)

    class VendoredStacValidate(StacValidate):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["schema_map"] = {**schema_map(), **(kwargs.get("schema_map") or {})}
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    monkeypatch.setattr(stac_api_validator.validations, "StacValidate", VendoredStacValidate)
    monkeypatch.setattr(stac_check.lint, "StacValidate", VendoredStacValidate)
    previous = pystac.validation.RegisteredValidator.get_validator()
    pystac.validation.set_validator(pystac_validator())
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, ",".join(LOOPBACK))
    try:
        yield guard
    finally:
        pystac.validation.set_validator(previous)
