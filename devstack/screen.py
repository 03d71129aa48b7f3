"""The one screen `make run` prints once everything answers."""

from __future__ import annotations

from devstack.localenv import Options, shown


def ready_screen(o: Options, seconds: float) -> str:
    """What the user reads once everything answers."""
    cli = ".venv/bin/python -m chalicelib.cli"
    pg = (
        "DATABASE_URL (yours)"
        if o.database_url
        else f"127.0.0.1:{o.pg_port} (data in {shown(o.state / 'postgres')})"
    )
    return f"""
Map Stock is running (ready in {seconds:.1f} s)

  API          {o.api_url}        e.g. curl {o.api_url}/v1/health
  S3 + SQS     {o.aws_endpoint}       (moto; objects saved to {shown(o.state / "s3")} on stop)
  PostgreSQL   {pg}

Create the first member (prompts for the password, or reads MAPSTOCK_PASSWORD / stdin):
  {cli} user create alice --days 30
Then log in:
  curl -s {o.api_url}/v1/auth/token -H 'Content-Type: application/json' \\
       -d '{{"username": "alice", "password": "..."}}'

Logs: {shown(o.log_dir)}/*.log, PostgreSQL: {shown(o.state / "postgres" / "postgres.log")}
Ctrl-C to stop.
"""
