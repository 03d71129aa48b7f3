"""python -m deploy {deploy|destroy|rotate-jwt} --stage STAGE [options]; see docs/deploying.md."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from deploy import chalice_project, steps


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def parser() -> argparse.ArgumentParser:
    """The command line; every option also reads a MAPSTOCK_* variable (the Makefile's way)."""
    cli = argparse.ArgumentParser(prog="python -m deploy", description=__doc__)
    cli.add_argument("command", choices=("deploy", "destroy", "rotate-jwt"))
    cli.add_argument("--stage", default=_env("STAGE"), required=_env("STAGE") is None)
    cli.add_argument(
        "--chalice",
        default=_env("MAPSTOCK_CHALICE"),
        help="the chalice command (default: chalice beside this Python)",
    )
    cli.add_argument(
        "--admin-database-url",
        default=_env("MAPSTOCK_ADMIN_DATABASE_URL"),
        help="postgresql:// URL of a role that owns the schema; used for migrations only",
    )
    cli.add_argument("--skip-migrations", action="store_true")
    cli.add_argument(
        "--db-host", default=_env("MAPSTOCK_DB_HOST"), help="host the functions connect to"
    )
    cli.add_argument("--db-port", default=_env("MAPSTOCK_DB_PORT"))
    cli.add_argument(
        "--db-user", default=_env("MAPSTOCK_DB_USER"), help="the API's login (mapstock_app)"
    )
    cli.add_argument(
        "--db-pipeline-user",
        default=_env("MAPSTOCK_DB_PIPELINE_USER"),
        help="the event functions' login (mapstock_app_pipeline)",
    )
    cli.add_argument(
        "--db-sslmode",
        default=_env("MAPSTOCK_DB_SSLMODE"),
        choices=("disable", "require", "verify-ca", "verify-full"),
    )
    cli.add_argument("--cors-origins", default=_env("MAPSTOCK_CORS_ORIGINS"))
    cli.add_argument("--alarm-email", default=_env("MAPSTOCK_ALARM_EMAIL"))
    cli.add_argument(
        "--layer-zip",
        type=Path,
        default=_env("MAPSTOCK_LAYER_ZIP"),
        help="a prebuilt processing layer zip (default: build requirements-processing.lock)",
    )
    cli.add_argument(
        "--state-dir",
        type=Path,
        default=_env("MAPSTOCK_CHALICE_STATE") or chalice_project.STATE_DIR,
        help="where Chalice's deployed/ state lives (default: .chalice)",
    )
    cli.add_argument("--confirm", default=_env("CONFIRM"), help="the stage name, to destroy prod")
    return cli


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit status 1 with a one-line reason when a step fails."""
    args = parser().parse_args(argv)
    options = steps.Options(
        stage=args.stage,
        chalice=chalice_project.command_prefix(args.chalice),
        admin_database_url=args.admin_database_url,
        skip_migrations=args.skip_migrations,
        db_host=args.db_host,
        db_port=args.db_port,
        db_user=args.db_user,
        db_pipeline_user=args.db_pipeline_user,
        db_sslmode=args.db_sslmode,
        cors_origins=args.cors_origins,
        alarm_email=args.alarm_email,
        layer_zip=Path(args.layer_zip) if args.layer_zip else None,
        confirm=args.confirm,
        state_dir=Path(args.state_dir),
    )
    run = {"deploy": steps.deploy, "destroy": steps.destroy, "rotate-jwt": steps.rotate_jwt}
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        run[args.command](options)
    except (RuntimeError, ClientError, BotoCoreError) as exc:
        print(f"{args.command} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
