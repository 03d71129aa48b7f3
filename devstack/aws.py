"""Local S3 + SQS: moto's server on loopback and the app's resources, made idempotently."""

from __future__ import annotations

import contextlib
import json
from typing import Any

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "mapstock-local",
    "AWS_SECRET_ACCESS_KEY": "mapstock-local-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}
MAX_RECEIVE_COUNT = 5
LOCAL_CORS_RULE = {
    "AllowedMethods": ["POST", "PUT", "GET", "HEAD"],
    "AllowedOrigins": ["http://127.0.0.1:*", "http://localhost:*"],
    "AllowedHeaders": ["*"],
    "ExposeHeaders": ["ETag", "Content-Length", "Content-Disposition"],
    "MaxAgeSeconds": 3000,
}


def start_moto(port: int) -> Any:
    """Start moto's server in a thread of this process; returns it (call .stop())."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


def create_resources(
    endpoint: str, bucket: str, queue: str, notify_queue: str | None = None
) -> dict[str, str]:
    """Bucket, processing queue + dead-letter queue, and (optionally) S3 -> SQS notifications."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint)
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)
    # A map is the object version it registered (infra/resources.yaml versions the bucket too).
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    # Browsers upload straight to the bucket (presigned POST, multipart parts by PUT) and must
    # read each part's ETag to complete the upload (as infra/resources.yaml allows).
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [LOCAL_CORS_RULE]})
    dlq_url = sqs.create_queue(QueueName=f"{queue}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=queue,
        Attributes={
            "VisibilityTimeout": "60",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
            ),
        },
    )["QueueUrl"]
    urls = {"queue_url": queue_url, "dlq_url": dlq_url}
    if notify_queue:
        notify_url = sqs.create_queue(QueueName=notify_queue)["QueueUrl"]
        notify_arn = sqs.get_queue_attributes(QueueUrl=notify_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "Id": "mapstock-uploads",
                        "QueueArn": notify_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {
                            "Key": {
                                "FilterRules": [
                                    {"Name": "prefix", "Value": "maps/"},
                                ]
                            }
                        },
                    }
                ]
            },
        )
        urls["notify_url"] = notify_url
    return urls
