"""The local event pump: S3 notifications, SQS messages and schedules delivered to the app's
handlers as Lambda delivers them.

    python -m devstack.pump s3 schedule   the S3 notification queue -> each @app.on_s3_event
                                          handler; each @app.schedule handler on its rate
    python -m devstack.pump sqs           each @app.on_sqs_message queue -> its handler

The handlers come from the app's own registrations (`app.event_sources`), so the decorators'
wiring is what runs. Each queue and schedule has a thread, so none waits behind another's long
poll; the handlers themselves run on the main thread, one at a time: Lambda's runtime calls them
on its main thread (where the processor's SIGALRM time limits work), and the app keeps one
database connection per process (as per Lambda container). `make run` runs S3 and SQS in two
processes, so a long processing job never holds up registering uploads.
"""

from __future__ import annotations

import argparse
import functools
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from devstack.invoker import Invoker, log
from devstack.lambda_events import rate_seconds, scheduled_event

NOTIFY_QUEUE = "mapstock-s3-events-local"
KINDS = ("s3", "sqs", "schedule")
WAIT_SECONDS = 20  # the longest SQS long poll, as Lambda's pollers use
# Lambda runs an asynchronous (S3) invocation at most three times: the call and two retries.
S3_ATTEMPTS = 3

Deliver = Callable[[list[Any]], None]


class _Call:
    """One handler invocation a worker hands to the main thread, and its outcome."""

    def __init__(self, work: Callable[[], None]):
        self.work = work
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.work()
        except BaseException as exc:  # handed back to the worker, whose crash stops the pump
            self.error = exc
        finally:
            self.done.set()


class Pump:
    """The threads that feed the app's handlers, taking turns at the one Invoker."""

    def __init__(self) -> None:
        self.endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
        if urlsplit(self.endpoint).hostname not in ("127.0.0.1", "localhost"):
            raise SystemExit("error: AWS_ENDPOINT_URL must name the local moto server (127.0.0.1)")
        self.invoker = Invoker(os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
        self.calls: queue.Queue[_Call] = queue.Queue()  # run by serve(), on the main thread
        self.stopping = threading.Event()
        self.crashed = False
        self.workers: list[tuple[str, Callable[[], None]]] = []

    def sqs_client(self) -> Any:
        """A new SQS client for one worker, on the local endpoint."""
        import boto3

        # Made in the main thread, one per worker: boto3's default session is not thread-safe.
        return boto3.client("sqs", endpoint_url=self.endpoint)

    def poll(self, sqs: Any, url: str, batch: int, deliver: Deliver) -> None:
        """Long-poll one queue until stopped; hand each non-empty receive to `deliver`."""
        while not self.stopping.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=batch,
                    WaitTimeSeconds=WAIT_SECONDS,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception as exc:
                log("pump_receive_failed", "error", queue=url, error=type(exc).__name__)
                self.stopping.wait(1)
                continue
            if not messages:
                continue
            if not self.call(functools.partial(deliver, messages)):
                return  # not delivered: the messages come back after their timeout

    def add_s3(self) -> None:
        """A worker for the S3 notification queue, feeding every @app.on_s3_event handler."""
        sources = self.invoker.registrations("s3")
        if not sources:
            return
        sqs = self.sqs_client()
        name = os.environ.get("MAPSTOCK_NOTIFY_QUEUE", NOTIFY_QUEUE)
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]

        def deliver(messages: list[Any]) -> None:
            for message in messages:
                receives = int(message["Attributes"].get("ApproximateReceiveCount", "1"))
                if self.invoker.deliver_s3(sources, message) or receives >= S3_ATTEMPTS:
                    # Failed thrice: Lambda drops the event too (no on-failure target here).
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

        self.workers.append((f"s3 {name}", functools.partial(self.poll, sqs, url, 10, deliver)))

    def add_sqs(self) -> None:
        """A worker per @app.on_sqs_message queue (the processing queue, its DLQ, ...)."""
        for source in self.invoker.registrations("sqs"):
            sqs = self.sqs_client()
            queue = source.queue or source.queue_arn.rsplit(":", 1)[-1]
            url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            deliver = functools.partial(
                self.invoker.deliver_sqs, sqs, source.name, url, arn["Attributes"]["QueueArn"]
            )
            batch = min(max(source.batch_size, 1), 10)
            self.workers.append(
                (f"sqs {queue}", functools.partial(self.poll, sqs, url, batch, deliver))
            )

    def add_schedules(self) -> None:
        """A worker per @app.schedule handler with a rate; cron schedules are not run."""
        for source in self.invoker.registrations("schedule"):
            period = rate_seconds(source.schedule_expression)
            if period is None:
                log("pump_schedule_skipped", "warning", handler=source.name, why="cron")
                continue
            work = functools.partial(self.tick, source.name, period)
            self.workers.append((f"schedule {source.name}", work))

    def tick(self, name: str, period: int) -> None:
        """Invoke a scheduled handler every `period` seconds, the first time one period in."""
        next_at = time.monotonic() + period

        def invoke() -> None:
            try:
                event = scheduled_event(name, self.invoker.region)
                result = self.invoker.invoke(name, event)
                log("pump_schedule_delivered", handler=name, result=result)
            except Exception:
                traceback.print_exc()  # EventBridge would retry; the next tick will do

        while not self.stopping.wait(max(0.0, next_at - time.monotonic())):
            next_at += period
            if not self.call(invoke):
                return

    def call(self, work: Callable[[], None]) -> bool:
        """Have the main thread run `work` (a handler invocation) and wait for it; re-raises
        what it raised. False when the pump is stopping (a call it will not run leaves its
        worker waiting until the process ends: workers are daemon threads)."""
        if self.stopping.is_set():
            return False
        entry = _Call(work)
        self.calls.put(entry)
        entry.done.wait()
        if entry.error is not None:
            raise entry.error
        return True

    def serve(self) -> None:
        """On the main thread: run the workers' invocations one at a time until stopped; one in
        flight when the stop comes finishes first (its deletes included)."""
        while not self.stopping.is_set():
            try:
                entry = self.calls.get(timeout=0.5)
            except queue.Empty:
                continue
            if self.stopping.is_set():
                return
            entry.run()

    def start(self) -> None:
        """Run each worker in a daemon thread; a worker's crash stops the whole process."""
        for label, work in self.workers:
            threading.Thread(
                target=self.guarded, args=(label, work), name=label, daemon=True
            ).start()

    def guarded(self, label: str, work: Callable[[], None]) -> None:
        """Run a worker; a bug in it ends the process (exit 1) rather than a silent thread."""
        try:
            work()
        except Exception:
            traceback.print_exc()
            log("pump_worker_crashed", "error", worker=label)
            self.crashed = True
            self.stopping.set()


def main(argv: list[str] | None = None) -> int:
    """Feed the chosen kinds of handlers until SIGTERM/SIGINT; 0 on a clean stop."""
    parser = argparse.ArgumentParser(prog="python -m devstack.pump", description=__doc__)
    parser.add_argument("kinds", nargs="+", choices=KINDS)
    kinds = parser.parse_args(argv).kinds
    pump = Pump()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        pump.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    adders = {"s3": pump.add_s3, "sqs": pump.add_sqs, "schedule": pump.add_schedules}
    for kind in kinds:
        adders[kind]()
    pump.start()
    ready_file = os.environ.get("MAPSTOCK_READY_FILE")
    if ready_file:
        Path(ready_file).touch()
    log("pump_ready", kinds=kinds, workers=[label for label, _ in pump.workers])
    pump.serve()  # until stopped; the pollers die with the process
    return 1 if pump.crashed else 0


if __name__ == "__main__":
    sys.exit(main())
