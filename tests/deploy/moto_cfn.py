"""CloudFormation types moto 5.2 does not model (Secret, BucketPolicy, Alarm), added to the
moto server running in this process so the real template deploys end to end. Each one calls
moto's own service backend, so the test reads the results back through the ordinary APIs."""

from __future__ import annotations

import json
from typing import Any

# __subclasses__() holds weak references: keep the classes alive for the whole session.
_INSTALLED: list[type] = []


def install() -> None:
    """Register the models with moto's CloudFormation parser (idempotent)."""
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel

    if _INSTALLED:
        return

    # moto lists direct subclasses of CloudFormationModel only: the shared code is a mixin.
    class _Shim:
        """One resource: its Ref is physical_resource_id."""

        def __init__(self, physical_resource_id: str):
            self.physical_resource_id = physical_resource_id

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return False

        @classmethod
        def update_from_cloudformation_json(  # type: ignore[override]
            cls, original_resource: Any, new_resource_name: str, cloudformation_json: Any, *a: Any
        ) -> Any:
            cls.delete_from_cloudformation_json(
                original_resource.physical_resource_id, cloudformation_json, *a
            )
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, *a)

    class Secret(_Shim, CloudFormationModel):
        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SecretsManager::Secret"

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[override]
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region: str,
            **kw: Any,
        ) -> Secret:
            from moto.secretsmanager.models import secretsmanager_backends

            backend = secretsmanager_backends[account_id][region]
            props = cloudformation_json["Properties"]
            spec = props.get("GenerateSecretString")
            value = props.get("SecretString")
            if spec is not None:
                generated = backend.get_random_password(
                    password_length=int(spec.get("PasswordLength", 32)),
                    exclude_characters=spec.get("ExcludeCharacters", ""),
                    exclude_numbers=False,
                    exclude_punctuation=bool(spec.get("ExcludePunctuation")),
                    exclude_uppercase=False,
                    exclude_lowercase=False,
                    include_space=False,
                    require_each_included_type=True,
                )
                password = json.loads(generated)["RandomPassword"]
                value = password
                if "SecretStringTemplate" in spec:
                    doc = json.loads(spec["SecretStringTemplate"])
                    doc[spec["GenerateStringKey"]] = password
                    value = json.dumps(doc)
            created = backend.create_secret(
                name=props.get("Name", resource_name),
                secret_string=value,
                secret_binary=None,
                description=props.get("Description"),
                tags=props.get("Tags"),
                kms_key_id=None,
                client_request_token=None,
                replica_regions=[],
                force_overwrite=False,
            )
            return cls(json.loads(created)["ARN"])

        @classmethod
        def delete_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region: str
        ) -> None:
            from moto.secretsmanager.models import secretsmanager_backends

            # Real CloudFormation schedules the deletion; force it here (same for the test).
            secretsmanager_backends[account_id][region].delete_secret(
                secret_id=resource_name,
                recovery_window_in_days=None,
                force_delete_without_recovery=True,
            )

    class BucketPolicy(_Shim, CloudFormationModel):
        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::S3::BucketPolicy"

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[override]
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region: str,
            **kw: Any,
        ) -> BucketPolicy:
            from moto.s3.models import s3_backends

            props = cloudformation_json["Properties"]
            document = json.dumps(props["PolicyDocument"]).encode()
            s3_backends[account_id]["aws"].put_bucket_policy(props["Bucket"], document)
            return cls(props["Bucket"])

        @classmethod
        def delete_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region: str
        ) -> None:
            from moto.s3.models import s3_backends

            backend = s3_backends[account_id]["aws"]
            if resource_name in backend.buckets:
                backend.delete_bucket_policy(resource_name)

    class Alarm(_Shim, CloudFormationModel):
        @staticmethod
        def cloudformation_name_type() -> str:
            return "AlarmName"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::CloudWatch::Alarm"

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[override]
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region: str,
            **kw: Any,
        ) -> Alarm:
            from moto.cloudwatch.models import cloudwatch_backends

            p = cloudformation_json["Properties"]
            name = p.get("AlarmName", resource_name)
            cloudwatch_backends[account_id][region].put_metric_alarm(
                name=name,
                namespace=p["Namespace"],
                metric_name=p["MetricName"],
                comparison_operator=p["ComparisonOperator"],
                evaluation_periods=int(p["EvaluationPeriods"]),
                period=int(p["Period"]),
                threshold=float(p["Threshold"]),
                statistic=p["Statistic"],
                description=p.get("AlarmDescription", ""),
                dimensions=p["Dimensions"],
                alarm_actions=p.get("AlarmActions", []),
                ok_actions=p.get("OKActions", []),
                treat_missing_data=p.get("TreatMissingData"),
            )
            return cls(name)

        @classmethod
        def delete_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region: str
        ) -> None:
            from moto.cloudwatch.models import cloudwatch_backends

            cloudwatch_backends[account_id][region].delete_alarms([resource_name])

    _INSTALLED.extend([Secret, BucketPolicy, Alarm])
    # The parser caches its type map: rebuild it so the new subclasses are seen.
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
