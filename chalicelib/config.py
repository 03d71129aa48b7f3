"""Settings from the environment (per-stage values come from .chalice/config.json)."""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass

MIB = 1024 * 1024
GIB = 1024 * MIB

# Names the event-source decorators in app.py need at import time (chalice deploy reads them
# there). Reading the environment is not I/O; `make deploy` exports these per stage.
BUCKET_ENV = "MAPSTOCK_BUCKET"
QUEUE_ENV = "MAPSTOCK_QUEUE"
DEFAULT_BUCKET = "mapstock-maps-local"
DEFAULT_QUEUE = "mapstock-processing-local"
DLQ_ENV = "MAPSTOCK_DLQ"
# Wall time of one processing job (spool, inspect, optimize, store), capped by what the
# invocation has left: fits the processor's 600 s timeout with room to record the outcome.
DEFAULT_JOB_BUDGET_SECONDS = 540


def bucket_name() -> str:
    """The maps bucket's name."""
    return os.environ.get(BUCKET_ENV, DEFAULT_BUCKET)


def queue_name() -> str:
    """The processing queue's name."""
    return os.environ.get(QUEUE_ENV, DEFAULT_QUEUE)


def dead_letter_queue_name() -> str:
    """The processing queue's dead-letter queue."""
    return os.environ.get(DLQ_ENV, f"{queue_name()}-dlq")


@dataclass(frozen=True)
class Settings:
    bucket: str
    queue_name: str
    queue_url: str | None
    token_ttl_seconds: int
    max_direct_upload_bytes: int
    max_upload_bytes: int
    multipart_threshold_bytes: int
    multipart_part_bytes: int
    upload_expiry_hours: int
    spool_limit_bytes: int
    upload_url_ttl_seconds: int
    download_url_ttl_seconds: int
    default_quota_maps: int
    default_quota_bytes: int
    processing_lease_seconds: int
    max_receive_count: int
    db_timeout_seconds: float
    external_queue_url: str | None
    external_threshold_bytes: int
    external_formats: frozenset[str]
    external_timeout_seconds: int
    job_budget_seconds: int
    upload_grace_seconds: int
    stall_seconds: int
    login_window_seconds: int
    login_max_per_account_ip: int
    login_max_per_ip: int


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


def _int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigError(f"{name} is out of range")
    return value


def _secret(name: str) -> str:
    """A secret from NAME, or from Secrets Manager when NAME_ARN is set (cached per container)."""
    value = os.environ.get(name)
    if value:
        return value
    arn = os.environ.get(f"{name}_ARN")
    if arn:
        return _secret_from_arn(arn)
    raise ConfigError(f"{name} (or {name}_ARN) is not set")


@functools.lru_cache(maxsize=8)
def _secret_from_arn(arn: str) -> str:
    import boto3  # only in AWS, only once per container

    secret = boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    # A JSON secret (RDS style) becomes a URL; a plain one is used as is.
    if secret.startswith("{"):
        doc = json.loads(secret)
        if "url" in doc:
            return str(doc["url"])
        from urllib.parse import quote

        url = (
            f"postgresql://{quote(str(doc['username']), safe='')}:"
            f"{quote(str(doc['password']), safe='')}@{doc['host']}:"
            f"{doc.get('port', 5432)}/{quote(str(doc.get('dbname', 'mapstock')), safe='')}"
        )
        # RDS on PostgreSQL 15+ refuses plain connections: TLS unless the secret says otherwise.
        return f"{url}?sslmode={quote(str(doc.get('sslmode', 'require')), safe='')}"
    return str(secret)


@functools.lru_cache(maxsize=1)
def jwt_secret() -> str:
    """The token signing key, read on first use: only the API needs it (and may read it)."""
    return _secret("JWT_SECRET")


# Each process connects as the role of the functions it calls: the API as mapstock_api (through
# DATABASE_URL), the event handlers as mapstock_pipeline (PIPELINE_DATABASE_URL). In AWS each
# function holds, and may read, only its own role's secret.
API_DATABASE_URL = "DATABASE_URL"
PIPELINE_DATABASE_URL = "PIPELINE_DATABASE_URL"


@functools.lru_cache(maxsize=2)
def database_url(setting: str) -> str:
    """The URL in `setting` (or its _ARN secret), read on first use; raises ConfigError."""
    if setting not in (API_DATABASE_URL, PIPELINE_DATABASE_URL):
        raise ConfigError(f"{setting} is not a database setting")
    return _secret(setting)


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read and validate the settings once per process; raises ConfigError."""
    return Settings(
        bucket=bucket_name(),
        queue_name=queue_name(),
        queue_url=os.environ.get("MAPSTOCK_QUEUE_URL") or None,
        token_ttl_seconds=_int("TOKEN_TTL_SECONDS", 3600, minimum=60, maximum=86400),
        max_direct_upload_bytes=_int("MAX_DIRECT_UPLOAD_BYTES", 4 * MIB, minimum=1),
        # S3's largest object is 5 TiB; presigned POST carries up to 5 GiB, multipart the rest.
        max_upload_bytes=_int("MAX_UPLOAD_BYTES", 100 * GIB, minimum=1, maximum=5 * 1024 * GIB),
        multipart_threshold_bytes=_int(
            "MULTIPART_THRESHOLD_BYTES", 64 * MIB, minimum=1, maximum=5 * GIB
        ),
        # The smallest part the server hands out (S3 needs >= 5 MiB but for the last part;
        # tests lower it together with moto's S3_UPLOAD_PART_MIN_SIZE).
        multipart_part_bytes=_int("MULTIPART_PART_BYTES", 16 * MIB, minimum=1, maximum=5 * GIB),
        upload_expiry_hours=_int("UPLOAD_EXPIRY_HOURS", 24, minimum=1, maximum=24 * 30),
        # Larger uploads are never copied to the processor's disk (Lambda's /tmp is 10 GiB at
        # most): their checksum is streamed and their metadata read by ranged reads.
        spool_limit_bytes=_int("SPOOL_LIMIT_BYTES", 8 * GIB, minimum=1),
        upload_url_ttl_seconds=_int("UPLOAD_URL_TTL_SECONDS", 3600, minimum=60, maximum=7 * 86400),
        download_url_ttl_seconds=_int("DOWNLOAD_URL_TTL_SECONDS", 300, minimum=10, maximum=300),
        default_quota_maps=_int("DEFAULT_QUOTA_MAPS", 1000),
        default_quota_bytes=_int("DEFAULT_QUOTA_BYTES", 50 * GIB),
        processing_lease_seconds=_int("PROCESSING_LEASE_SECONDS", 900, minimum=10),
        max_receive_count=_int("MAX_RECEIVE_COUNT", 5, minimum=1),
        db_timeout_seconds=float(_int("DB_TIMEOUT_SECONDS", 10, minimum=1, maximum=300)),
        external_queue_url=os.environ.get("EXTERNAL_QUEUE_URL") or None,
        external_threshold_bytes=_int("EXTERNAL_THRESHOLD_BYTES", 1 * GIB, minimum=1),
        external_formats=frozenset(
            f.strip() for f in os.environ.get("EXTERNAL_FORMATS", "").split(",") if f.strip()
        ),
        external_timeout_seconds=_int("EXTERNAL_TIMEOUT_SECONDS", 2 * 3600, minimum=60),
        job_budget_seconds=_int("JOB_BUDGET_SECONDS", DEFAULT_JOB_BUDGET_SECONDS, minimum=1),
        upload_grace_seconds=_int("UPLOAD_GRACE_SECONDS", 3600, minimum=0),
        stall_seconds=_int("STALL_SECONDS", 900, minimum=0),
        login_window_seconds=_int("LOGIN_WINDOW_SECONDS", 300, minimum=1),
        login_max_per_account_ip=_int("LOGIN_MAX_PER_ACCOUNT_IP", 10, minimum=1),
        login_max_per_ip=_int("LOGIN_MAX_PER_IP", 100, minimum=1),
    )


@dataclass(frozen=True)
class WebSettings:
    basemap_style: str | None  # an online MapLibre style URL replacing the shipped world outline
    basemap_origins: tuple[str, ...]  # origins that style's tiles, sprites and glyphs come from


def web_settings() -> WebSettings:
    """The web application's settings (read per call: two environment lookups); raises
    ConfigError for a style or origin that is not an http(s) URL."""
    from urllib.parse import urlsplit

    style = os.environ.get("MAPSTOCK_BASEMAP_STYLE", "").strip() or None
    extra = os.environ.get("MAPSTOCK_BASEMAP_ORIGINS", "").split()
    origins = []
    for url in ([style] if style else []) + extra:
        parts = urlsplit(url)
        if (
            parts.scheme not in ("https", "http")
            or not parts.netloc
            or any(c in url for c in "; ,'\"")
        ):
            raise ConfigError("MAPSTOCK_BASEMAP_STYLE / MAPSTOCK_BASEMAP_ORIGINS: http(s) URLs")
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return WebSettings(basemap_style=style, basemap_origins=tuple(dict.fromkeys(origins)))
