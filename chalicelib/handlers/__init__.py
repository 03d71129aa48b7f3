"""The non-HTTP entry points: S3 events, SQS batches and schedules (app.py wires them)."""
