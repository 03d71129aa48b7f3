"""The deploy, destroy and rotate-jwt sequences, each step idempotent."""

from __future__ import annotations

import secrets as random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy import chalice_project, database, gateway, layer, post_deploy, stack, teardown
from deploy.stage import APP_NAME, TEMPLATE_FILE, Stage, load_stage, read_config, render_config

CONFIRM_REQUIRED = ("prod",)


class DeployError(RuntimeError):
    """A step cannot run with the options given (the message says what to pass)."""


@dataclass
class Options:
    stage: str
    chalice: list[str] = field(default_factory=lambda: chalice_project.command_prefix(None))
    admin_database_url: str | None = None
    skip_migrations: bool = False
    db_host: str | None = None
    db_port: str | None = None
    db_user: str | None = None
    db_pipeline_user: str | None = None
    db_sslmode: str | None = None
    cors_origins: str | None = None
    alarm_email: str | None = None
    layer_zip: Path | None = None
    confirm: str | None = None
    state_dir: Path = chalice_project.STATE_DIR


def _say(message: str) -> None:
    print(f"==> {message}", flush=True)


def _clients() -> dict[str, Any]:
    import boto3

    session = boto3.session.Session()
    return {
        "apigateway": session.client("apigateway"),
        "cloudformation": session.client("cloudformation"),
        "lambda": session.client("lambda"),
        "s3": session.client("s3"),
        "secretsmanager": session.client("secretsmanager"),
    }


def _stack_parameters(options: Options, stage: Stage) -> dict[str, str]:
    params = stage.stack_parameters()
    params.update(
        database.stack_parameters(options.admin_database_url, options.db_host, options.db_port)
    )
    optional = {
        "DatabaseUser": options.db_user,
        "PipelineDatabaseUser": options.db_pipeline_user,
        "DatabaseSslMode": options.db_sslmode,
        "CorsAllowedOrigins": options.cors_origins,
        "AlarmEmail": options.alarm_email,
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    return params


def _layer_archive(options: Options) -> Path | None:
    if options.layer_zip:
        return options.layer_zip
    if layer.LOCK.exists():
        _say(f"building the processing layer from {layer.LOCK.name}")
        return layer.build()
    _say(f"no {layer.LOCK.name}: the processor deploys without its layer")
    return None


def deploy(options: Options) -> dict[str, Any]:
    """Stack, migrations, layer, chalice deploy, post-deploy; raises DeployError or a step's."""
    if not options.admin_database_url and not options.skip_migrations:
        raise DeployError("migrations need --admin-database-url (or pass --skip-migrations)")
    if not options.layer_zip and layer.LOCK.exists():
        layer.check_runtime()
    config = read_config()
    stage = load_stage(options.stage, config)
    aws = _clients()

    _say(f"resources stack {stage.stack_name}")
    outputs = stack.ensure(
        aws["cloudformation"],
        stage.stack_name,
        TEMPLATE_FILE.read_text(encoding="utf-8"),
        _stack_parameters(options, stage),
        {"app": APP_NAME, "stage": stage.name},
    )

    applied: list[str] = []
    if options.admin_database_url:
        _say("migrations")
        applied = database.migrate(
            aws["secretsmanager"],
            outputs["DatabaseSecretArn"],
            outputs["PipelineDatabaseSecretArn"],
            options.admin_database_url,
        )
        _say(f"migrations applied now: {len(applied)}; functions and both login roles refreshed")

    archive = _layer_archive(options)
    layer_arn = None
    if archive is not None:
        layer_arn = layer.publish(
            aws["lambda"], aws["s3"], stage.layer_name, archive, outputs["BucketName"]
        )
        _say(f"processing layer {layer_arn}")

    rendered = render_config(config, stage.name, outputs, {"processing": layer_arn})
    _say(f"chalice deploy --stage {stage.name}")
    with chalice_project.rendered(rendered, options.state_dir) as project:
        chalice_project.run(options.chalice, project, stage, "deploy")

    _say("post-deploy settings")
    changed = post_deploy.apply(aws["lambda"], stage, outputs["ProcessingQueueArn"])
    api_id = gateway.rest_api_id(options.state_dir, stage.name)
    if api_id:
        api_stage = config["stages"][stage.name].get("api_gateway_stage", "api")
        changed += [
            f"gateway response {kind}"
            for kind in gateway.apply(aws["apigateway"], api_id, api_stage)
        ]
    _say("changed: " + ("; ".join(changed) if changed else "nothing (already set)"))
    return {"outputs": outputs, "migrations": applied, "layer": layer_arn, "changed": changed}


def destroy(options: Options) -> dict[str, Any]:
    """Undo deploy: functions, layer, stack, bucket, secrets; raises DeployError, StackError."""
    if options.stage in CONFIRM_REQUIRED and options.confirm != options.stage:
        raise DeployError(
            f"destroying {options.stage} deletes every map: pass --confirm {options.stage}"
        )
    config = read_config()
    stage = load_stage(options.stage, config)
    aws = _clients()
    done: dict[str, Any] = {}
    if chalice_project.has_deployed(stage, options.state_dir):
        _say(f"chalice delete --stage {stage.name}")
        # Deleting reads only Chalice's recorded state: the placeholders need no values.
        with chalice_project.rendered(config, options.state_dir) as project:
            chalice_project.run(options.chalice, project, stage, "delete")
    done["layer_versions"] = layer.delete_all(aws["lambda"], stage.layer_name)
    _say(f"deleting stack {stage.stack_name}")
    done["stack"] = stack.delete(aws["cloudformation"], stage.stack_name)
    # The template retains the bucket so only this explicit step ever removes it; emptied
    # after the stack, once nothing can write to it any more.
    _say(f"emptying and deleting s3://{stage.bucket}")
    done["objects"] = teardown.empty_bucket(aws["s3"], stage.bucket)
    done["bucket"] = teardown.delete_bucket(aws["s3"], stage.bucket)
    done["secrets"] = teardown.delete_secrets(aws["secretsmanager"], stage)
    _say(f"destroyed: {done}")
    return done


def rotate_jwt(options: Options) -> str:
    """New signing key, then fresh API containers; raises DeployError when not deployed."""
    # Every token issued before becomes invalid: members sign in again.
    stage = load_stage(options.stage)
    aws = _clients()
    found = stack.describe(aws["cloudformation"], stage.stack_name)
    if found is None:
        raise DeployError(f"stage {stage.name} is not deployed")
    arn = stack.outputs(found)["JwtSecretArn"]
    aws["secretsmanager"].put_secret_value(SecretId=arn, SecretString=random.token_hex(32))
    # Any configuration change starts fresh execution environments, which re-read the secret.
    aws["lambda"].update_function_configuration(
        FunctionName=stage.function_name("api_handler"),
        Description=f"JWT key rotated {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
    )
    _say(f"rotated {arn}; API containers recycled")
    return arn
