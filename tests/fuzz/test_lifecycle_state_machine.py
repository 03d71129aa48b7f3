"""The upload lifecycle as a state machine, through the real handlers (chalice.test Client,
moto, PostgreSQL): members and admins upload (direct and presigned), S3 delivers events
(duplicated, late, for deleted maps), SQS delivers jobs (duplicated, failing, on the last
attempt), owners and admins edit and delete, subscriptions lapse and come back. After every step
the database, the bucket and every caller's view of the API must match a small model of
CONTRACT.md; after every run, what was uploaded has reached a final state (nothing lost).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

import requests
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import BUCKET, GEOJSON, QUEUE, body, drain
from tests.fuzz.conftest import fuzz_examples

JUNK = b"\x00\x01 definitely not a map \xff" * 8
CONTENT = {"geojson": GEOJSON, "junk": JUNK}
STATUSES = {"awaiting_upload", "uploaded", "processing", "ready", "rejected", "failed"}
FINAL = {"ready", "rejected", "failed"}
VISIBILITIES = ("private", "members", "public")
TITLES = ("Alps", "Carte d'été", "北海道 1:25000", "Trail #7")
MEMBER_POOL = ("m2", "a1", "m3")  # added by a rule; m1 exists from the start
MAX_MAPS = 6  # live maps at once: enough for every visibility x state, cheap to check


@dataclass
class ModelUser:
    role: str
    active: bool


@dataclass
class ModelMap:
    id: str
    owner: str
    kind: str  # what the bytes are: "geojson" or "junk"
    visibility: str
    title: str
    status: str
    declared_size: int
    sha256: str | None  # as declared by the uploader (presigned only)
    object_present: bool
    upload: dict[str, Any] | None = None  # presigned POST, until the bytes are sent
    error: str | None = None

    @property
    def data(self) -> bytes:
        return CONTENT[self.kind]

    def outcome(self) -> tuple[str, str | None]:
        """What processing makes of it: (status, error code)."""
        if self.sha256 is not None and self.sha256 != hashlib.sha256(self.data).hexdigest():
            return "rejected", "checksum_mismatch"
        if self.kind == "junk":
            return "rejected", "unsupported_format"
        return "ready", None


class LifecycleMachine(RuleBasedStateMachine):
    """Every rule acts through the API or delivers an AWS event; the model says what must follow."""

    def __init__(self, pipeline: Any, users: Any, sql: Any):
        super().__init__()
        self.pipeline = pipeline
        self.client = pipeline.client
        self.users_helper = users
        self.sql = sql
        self.users: dict[str, ModelUser] = {}
        self.maps: dict[str, ModelMap] = {}
        self.deleted: dict[str, ModelMap] = {}  # their objects must go (late ones: on the event)
        self.queued: Counter[str] = Counter()  # processing jobs the model expects in SQS
        self.created: list[str] = []  # every map id, in creation order
        self._reset()

    # -- the world ---------------------------------------------------------------------------

    def _reset(self) -> None:
        """Each run starts empty: no rows, no messages, no objects."""
        self.sql.run("TRUNCATE app.maps, app.users, app.login_throttle CASCADE")
        stack = self.pipeline.stack
        for url in (stack["queue_url"], stack["dlq_url"], stack["external_url"]):
            drain(self.pipeline.sqs, url)
        s3 = self.pipeline.s3
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="maps/").get("Contents", [])
        if listed:
            keys = [{"Key": o["Key"]} for o in listed]
            s3.delete_objects(Bucket=BUCKET, Delete={"Objects": keys, "Quiet": True})

    def headers(self, actor: str | None) -> dict[str, str]:
        # A fresh token each time: deactivation through the API revokes the old ones.
        return self.users_helper.headers(actor)

    def can_view(self, actor: str | None, m: ModelMap) -> bool:
        """CONTRACT.md: private is owner-only, members is every active member, public is
        everyone; maps that are not ready only for their owner and admins; a deactivated member
        sees other people's maps as a guest does."""
        if actor is None:
            return m.status == "ready" and m.visibility == "public"
        user = self.users[actor]
        if user.role == "admin" or m.owner == actor:
            return True
        if m.status != "ready":
            return False
        return m.visibility == "public" or (m.visibility == "members" and user.active)

    def can_manage(self, actor: str | None, m: ModelMap) -> bool:
        return actor is not None and (self.users[actor].role == "admin" or m.owner == actor)

    def may_upload(self, actor: str) -> bool:
        return self.users[actor].role == "admin" or self.users[actor].active

    def actors(self) -> list[str | None]:
        return [None, *sorted(self.users)]

    def draw_actor(self, data: Any, guest: bool = True) -> str | None:
        options = self.actors() if guest else sorted(self.users)
        return data.draw(st.sampled_from(options), label="actor")  # type: ignore[no-any-return]

    def draw_map(self, data: Any, include_deleted: bool = False) -> ModelMap:
        pool = {**self.maps, **(self.deleted if include_deleted else {})}
        return self.draw_from(data, pool)

    def draw_from(self, data: Any, pool: dict[str, ModelMap]) -> ModelMap:
        # In creation order, never sorted by id: ids are random, and a replay of the same
        # choices must pick the same map (hypothesis checks that generation is reproducible).
        ordered = [i for i in self.created if i in pool]
        return pool[data.draw(st.sampled_from(ordered), label="map")]

    def in_creation_order(self, ids: Any) -> list[str]:
        return [i for i in self.created if i in ids]

    # -- users -------------------------------------------------------------------------------

    @initialize()
    def first_member(self) -> None:
        self.users_helper.create("m1")
        self.users["m1"] = ModelUser("member", True)

    @precondition(lambda self: len(self.users) < 1 + len(MEMBER_POOL))
    @rule(active=st.booleans())
    def add_user(self, active: bool) -> None:
        name = next(n for n in MEMBER_POOL if n not in self.users)
        role = "admin" if name.startswith("a") else "member"
        active = active or role == "admin"
        self.users_helper.create(name, role=role, days=30 if active else None)
        self.users[name] = ModelUser(role, active)

    @precondition(lambda self: any(u.role == "member" for u in self.users.values()))
    @rule(data=st.data(), active=st.booleans(), through_api=st.booleans())
    def set_subscription(self, data: Any, active: bool, through_api: bool) -> None:
        """Deactivate or reactivate a member: by an admin over HTTP when there is one, else as
        the CLI does (straight to the database function)."""
        members = sorted(n for n, u in self.users.items() if u.role == "member")
        name = data.draw(st.sampled_from(members), label="member")
        until = "2099-01-01" if active else None
        admins = sorted(n for n, u in self.users.items() if u.role == "admin")
        if through_api and admins:
            response = self.client.http.patch(
                f"/v1/users/{name}",
                headers={**self.headers(admins[0]), "Content-Type": "application/json"},
                body=json.dumps({"active_until": until}),
            )
            assert response.status_code == 200, response.body
            assert body(response)["active"] is active
        else:
            self.sql.run(
                "SELECT ops.update_user(:u, NULL, NULL, true, CAST(:until AS timestamptz))",
                u=name,
                until=until,
            )
        self.users[name].active = active

    # -- uploads -----------------------------------------------------------------------------

    @precondition(lambda self: len(self.maps) < MAX_MAPS)
    @rule(
        data=st.data(),
        kind=st.sampled_from(sorted(CONTENT)),
        visibility=st.sampled_from(VISIBILITIES),
        events=st.integers(0, 2),
    )
    def upload_direct(self, data: Any, kind: str, visibility: str, events: int) -> None:
        """A direct upload; S3's event for it comes now (once or twice) or later (a rule)."""
        actor = self.draw_actor(data, guest=False)
        assert actor is not None
        response = self.pipeline.upload_direct(
            self.headers(actor), CONTENT[kind], f"{kind}.geojson", visibility=visibility
        )
        if not self.may_upload(actor):
            assert response.status_code == 403, response.body
            assert body(response)["code"] == "subscription_inactive"
            return
        assert response.status_code == 201, response.body
        doc = body(response)["map"]
        assert (doc["status"], doc["visibility"], doc["owner"]) == ("uploaded", visibility, actor)
        m = ModelMap(
            doc["id"],
            actor,
            kind,
            visibility,
            f"{kind}.geojson",
            "uploaded",
            len(CONTENT[kind]),
            None,
            object_present=True,
        )
        self.maps[m.id] = m
        self.created.append(m.id)
        if events:
            self._s3_event(m, events)

    @precondition(lambda self: len(self.maps) < MAX_MAPS)
    @rule(
        data=st.data(),
        kind=st.sampled_from(sorted(CONTENT)),
        visibility=st.sampled_from(VISIBILITIES),
        size_right=st.booleans(),
        sha=st.sampled_from(["none", "right", "wrong"]),
        events=st.sampled_from([None, 0, 1, 2]),
    )
    def upload_presigned(
        self, data: Any, kind: str, visibility: str, size_right: bool, sha: str, events: int | None
    ) -> None:
        """A presigned upload: the bytes go to S3 now (None: later, by a rule), then S3's event
        now (`events` times) or later."""
        actor = self.draw_actor(data, guest=False)
        assert actor is not None
        content = CONTENT[kind]
        declared = len(content) if size_right else len(content) + 1
        digest = {"none": None, "right": hashlib.sha256(content).hexdigest(), "wrong": "0" * 64}
        doc = {"filename": f"{kind}.geojson", "size": declared, "visibility": visibility}
        if digest[sha]:
            doc["sha256"] = digest[sha]
        response = self.pipeline.create_presigned(self.headers(actor), **doc)
        if not self.may_upload(actor):
            assert response.status_code == 403, response.body
            assert body(response)["code"] == "subscription_inactive"
            return
        assert response.status_code == 201, response.body
        created = body(response)
        assert created["map"]["status"] == "awaiting_upload"
        m = ModelMap(
            created["map"]["id"],
            actor,
            kind,
            visibility,
            f"{kind}.geojson",
            "awaiting_upload",
            declared,
            digest[sha],
            object_present=False,
            upload=created["upload"],
        )
        self.maps[m.id] = m
        self.created.append(m.id)
        if events is not None:
            self._send_bytes(m)
        if events:
            self._s3_event(m, events)

    def _send_bytes(self, m: ModelMap) -> None:
        # moto does not enforce the policy's content-length-range: a wrong declared size lands
        # and is caught when the S3 event is registered, as a rogue client's upload would be.
        assert m.upload is not None
        assert self.pipeline.post_to_s3(m.upload, m.data) in (200, 201, 204)
        m.upload = None
        m.object_present = True

    @precondition(lambda self: any(m.upload for m in [*self.maps.values(), *self.deleted.values()]))
    @rule(data=st.data())
    def send_presigned_bytes(self, data: Any) -> None:
        """The client sends the bytes late, possibly after the map was deleted (the URL is still
        valid): that object must not outlive its S3 event."""
        pending = {m.id: m for m in [*self.maps.values(), *self.deleted.values()] if m.upload}
        self._send_bytes(self.draw_from(data, pending))

    # -- S3 events ---------------------------------------------------------------------------

    @precondition(lambda self: any(m.object_present for m in self.maps.values()) or self.deleted)
    @rule(data=st.data(), times=st.integers(1, 3))
    def deliver_s3_event(self, data: Any, times: int) -> None:
        """S3 delivers at least once: an event again, late, or for a map deleted since."""
        pool = {i: m for i, m in self.maps.items() if m.object_present} | self.deleted
        self._s3_event(self.draw_from(data, pool), times)

    def _s3_event(self, m: ModelMap, times: int) -> None:
        """The same ObjectCreated event, `times` times, to the real handler."""
        from tests.events import s3_object_created

        # The size S3 reports is what was stored (a stale event for a removed object: as sent).
        event = s3_object_created(BUCKET, f"maps/{m.id}/original", len(m.data))
        for _ in range(times):
            self.client.lambda_.invoke("on_upload", event)
        if m.id in self.deleted:
            m.object_present = False  # no row: the handler removes a late object
            return
        if m.status == "awaiting_upload" and not self.may_upload(m.owner):
            # Bytes through a slot opened before the subscription ended: never kept.
            m.status, m.error, m.object_present = "rejected", "subscription_inactive", False
            return
        if m.status == "awaiting_upload":
            if len(m.data) != m.declared_size:
                m.status, m.error = "rejected", "size_mismatch"
                return
            m.status = "uploaded"
        if m.status == "uploaded":
            self.queued[m.id] += times  # every event re-queues an unprocessed upload

    # -- SQS jobs ----------------------------------------------------------------------------

    @precondition(lambda self: sum(self.queued.values()) > 0)
    @rule(data=st.data(), duplicate=st.booleans())
    def process_jobs(self, data: Any, duplicate: bool) -> None:
        """Deliver every queued job (each twice when duplicated), some failing on S3 reads: a
        failed job is handed back and comes again."""
        candidates = self.in_creation_order(self.queued)
        failing = data.draw(st.sets(st.sampled_from(candidates)), label="failing")
        self._process(failing, duplicate, final=False)

    @precondition(lambda self: sum(self.queued.values()) > 0)
    @rule(data=st.data(), duplicate=st.booleans())
    def process_jobs_on_final_attempt(self, data: Any, duplicate: bool) -> None:
        """The jobs' last receive (maxReceiveCount), one of them failing: that map ends `failed`
        with a reason instead of being handed back (nothing is stuck); the others finish."""
        candidates = self.in_creation_order(self.queued)
        failing = data.draw(st.sampled_from(candidates), label="failing")
        self._process({failing}, duplicate, final=True)

    def _process(self, failing: set[str], duplicate: bool, final: bool) -> None:
        from chalicelib import storage
        from chalicelib.config import get_settings
        from chalicelib.handlers.sqs import BatchFailed
        from tests.events import sqs_record

        messages = drain(self.pipeline.sqs, self.pipeline.stack["queue_url"])
        ids = [json.loads(m["Body"])["map_id"] for m in messages]
        assert Counter(ids) == self.queued, "a job was lost or doubled on the way to SQS"
        receives = get_settings().max_receive_count if final else 1
        records = [sqs_record(m["Body"], QUEUE, receives, m["MessageId"]) for m in messages]
        if duplicate:
            records = records + records
        real = storage.iter_object

        def flaky(key: str, *args: Any, **kwargs: Any) -> Any:
            if any(map_id in key for map_id in failing):
                raise ConnectionError("reset by peer")
            return real(key, *args, **kwargs)

        storage.iter_object = flaky  # type: ignore[assignment]
        try:
            result = self.pipeline.deliver_jobs(records)
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        except BatchFailed:
            failed = {r["messageId"] for r in records}
        finally:
            storage.iter_object = real  # type: ignore[assignment]

        expected_failed = set()
        self.queued = Counter()
        for map_id in dict.fromkeys(ids):  # each map once, in delivery order
            m = self.maps.get(map_id)
            if m is None or m.status != "uploaded":
                continue  # deleted, or already processed: the claim is a no-op
            if map_id in failing and final:
                m.status, m.error = "failed", "processing_failed"
            elif map_id in failing:
                expected_failed |= {
                    msg["MessageId"] for msg, i in zip(messages, ids, strict=True) if i == map_id
                }
            else:
                m.status, m.error = m.outcome()
        assert failed == expected_failed
        # As SQS does once the visibility timeout ends: failed messages come back.
        for message in messages:
            if message["MessageId"] in failed:
                self.pipeline.sqs.send_message(
                    QueueUrl=self.pipeline.stack["queue_url"], MessageBody=message["Body"]
                )
                self.queued[json.loads(message["Body"])["map_id"]] += 1

    # -- owners and admins -------------------------------------------------------------------

    @precondition(lambda self: self.maps or self.deleted)
    @rule(
        data=st.data(),
        change=st.one_of(
            st.fixed_dictionaries({"visibility": st.sampled_from(VISIBILITIES)}),
            st.fixed_dictionaries({"title": st.sampled_from(TITLES)}),
        ),
    )
    def patch_map(self, data: Any, change: dict[str, str]) -> None:
        """Owner or admin edits; others get 403 if they may see the map, 404 if not, 401 as
        guests; a deleted map is 404 for all."""
        actor = self.draw_actor(data)
        m = self.draw_map(data, include_deleted=True)
        response = self.client.http.patch(
            f"/v1/maps/{m.id}",
            headers={**self.headers(actor), "Content-Type": "application/json"},
            body=json.dumps(change),
        )
        expected = self._management_status(actor, m, 200)
        assert response.status_code == expected, (actor, m, response.body)
        if expected == 200:
            m.visibility = change.get("visibility", m.visibility)
            m.title = change.get("title", m.title)
            doc = body(response)
            assert (doc["visibility"], doc["title"]) == (m.visibility, m.title)

    @precondition(lambda self: self.maps or self.deleted)
    @rule(data=st.data())
    def delete_map(self, data: Any) -> None:
        """As patch_map; a deleted map's objects go with it (checked after every step)."""
        actor = self.draw_actor(data)
        m = self.draw_map(data, include_deleted=True)
        response = self.client.http.delete(f"/v1/maps/{m.id}", headers=self.headers(actor))
        expected = self._management_status(actor, m, 204)
        assert response.status_code == expected, (actor, m, response.body)
        if expected == 204:
            del self.maps[m.id]
            m.object_present = False
            self.deleted[m.id] = m

    def _management_status(self, actor: str | None, m: ModelMap, ok: int) -> int:
        if actor is None:
            return 401
        if m.id in self.deleted or not self.can_view(actor, m):
            return 404  # missing and not allowed look the same
        return ok if self.can_manage(actor, m) else 403

    # -- reading -----------------------------------------------------------------------------

    @precondition(lambda self: self.maps or self.deleted)
    @rule(data=st.data())
    def read_and_download(self, data: Any) -> None:
        """One caller reads one map (live or deleted) and asks for its download."""
        self._check_access(self.draw_actor(data), self.draw_map(data, include_deleted=True))

    def _check_access(self, actor: str | None, m: ModelMap) -> None:
        """GET the map and its download as `actor`: 404 unless they may see it, 409 until it is
        ready, else a URL that serves the uploaded bytes."""
        headers = self.headers(actor)
        visible = m.id in self.maps and self.can_view(actor, m)
        got = self.client.http.get(f"/v1/maps/{m.id}", headers=headers)
        assert got.status_code == (200 if visible else 404), (actor, m, got.body)
        if visible:
            doc = body(got)
            assert (doc["status"], doc["visibility"], doc["owner"], doc["title"]) == (
                m.status,
                m.visibility,
                m.owner,
                m.title,
            )
        link = self.client.http.get(
            f"/v1/maps/{m.id}/download?redirect=false&variant=original", headers=headers
        )
        if not visible:
            assert link.status_code == 404, (actor, m, link.body)
        elif m.status != "ready":
            assert link.status_code == 409, (actor, m, link.body)
            assert body(link)["code"] == "not_ready"
        else:
            assert link.status_code == 200, (actor, m, link.body)
            fetched = requests.get(body(link)["url"], timeout=30)
            assert fetched.status_code == 200
            assert fetched.content == m.data
            # The default download may be the optimized variant (gzip, decoded on the fly by
            # HTTP clients): the file a user saves is still the map they uploaded.
            default = self.client.http.get(
                f"/v1/maps/{m.id}/download?redirect=false", headers=headers
            )
            assert default.status_code == 200, (actor, m, default.body)
            assert requests.get(body(default)["url"], timeout=30).content == m.data

    # -- after every step --------------------------------------------------------------------

    @invariant()
    def rows_match_the_model(self) -> None:
        rows = self.sql.run("SELECT id::text, status, lease_token, stage, error_code FROM app.maps")
        assert {r[0] for r in rows} == set(self.maps), "a map was lost or appeared"
        for map_id, status, lease, stage, error in rows:
            assert status in STATUSES
            # Every step runs its handlers to the end: nothing is left mid-processing, and a
            # map in processing without a lease could never be finished or taken over.
            assert status != "processing" or lease is not None or stage == "external"
            assert status != "processing", "a map was left processing"
            m = self.maps[map_id]
            assert (status, error) == (m.status, m.error), m

    @invariant()
    def objects_match_the_model(self) -> None:
        listed = self.pipeline.s3.list_objects_v2(Bucket=BUCKET, Prefix="maps/")
        keys = [o["Key"] for o in listed.get("Contents", [])]
        with_original = {k.split("/")[1] for k in keys if k.endswith("/original")}
        expected = {i for i, m in {**self.maps, **self.deleted}.items() if m.object_present}
        assert with_original == expected
        # A deleted map keeps nothing (its optimized variant included).
        removed = {i for i, m in self.deleted.items() if not m.object_present}
        assert not {k.split("/")[1] for k in keys} & removed

    @invariant()
    def every_caller_browses_what_the_contract_allows(self) -> None:
        for actor in self.actors():
            page = self.client.http.get("/v1/maps?limit=100", headers=self.headers(actor))
            assert page.status_code == 200, page.body
            listed = {doc["id"]: doc for doc in body(page)["items"]}
            visible = {i for i, m in self.maps.items() if self.can_view(actor, m)}
            assert set(listed) == visible, (actor, set(listed) ^ visible)
            for map_id, doc in listed.items():
                m = self.maps[map_id]
                assert (doc["status"], doc["visibility"], doc["owner"]) == (
                    m.status,
                    m.visibility,
                    m.owner,
                )
                assert (doc["error"] or {}).get("code") == m.error

    # -- after every run ---------------------------------------------------------------------

    def teardown(self) -> None:
        # Only after a clean run: a failing step's own error is the one to report.
        if sys.exc_info()[0] is None:
            self._settle()

    def _settle(self) -> None:
        """Let S3 and SQS deliver everything once more, without faults: every upload ends in a
        final state, no job is left, late objects of deleted maps are gone, and every caller
        sees exactly what the contract allows."""
        for m in [*self.maps.values(), *self.deleted.values()]:
            if m.upload:
                self._send_bytes(m)  # a client that finishes its upload
        for m in [*self.maps.values(), *self.deleted.values()]:
            if m.object_present or m.id in self.deleted:
                self._s3_event(m, 1)
        for _ in range(5):
            if not sum(self.queued.values()):
                break
            self._process(set(), duplicate=False, final=False)
        assert not sum(self.queued.values())
        assert not drain(self.pipeline.sqs, self.pipeline.stack["queue_url"])
        for m in self.maps.values():
            assert m.status in FINAL, m
        self.rows_match_the_model()
        self.objects_match_the_model()
        self.every_caller_browses_what_the_contract_allows()
        for actor in self.actors():
            for m in [*self.maps.values(), *self.deleted.values()]:
                self._check_access(actor, m)


def test_upload_lifecycle_state_machine(pipeline, users, sql):
    # ~25 runs of 15 steps at the default budget; FUZZ_EXAMPLES scales it (200 is the default).
    runs = max(1, round(25 * fuzz_examples() / 200))
    run_state_machine_as_test(
        lambda: LifecycleMachine(pipeline, users, sql),
        settings=settings(
            max_examples=runs,
            stateful_step_count=15,
            deadline=None,
            database=None,  # no .hypothesis folder in the project; each run stands alone
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
