"""POST /api/internal/log-activity over real HTTP: shapes, idempotency, bad input, outages."""

from __future__ import annotations

import functools
import time
import uuid

import orjson

from activitylog.runtime.settings import Settings
from activitylog_ingest.service import run_ingest
from activitylog_testing.polling import wait_for
from activitylog_testing.ports import free_port
from activitylog_testing.serving import running
from activitylog_testing.streams import drain
from support import event
from tcp_proxy import TcpProxy

PATH = "/api/internal/log-activity"
RESULT_FIELDS = {"success", "activityId", "timestamp", "queued"}


def deep_event(depth: int) -> bytes:
    """An event whose metadata is `depth` levels deep, {"a": {"a": … {}}}, as JSON text.

    Built as text, because orjson itself refuses to write more than 254 levels.
    """
    nested = b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)
    return orjson.dumps(event(1, metadata="@")).replace(b'"@"', nested)


async def _rows(pool) -> list:
    return await pool.fetch("SELECT * FROM lead_activity_log ORDER BY id")


async def test_one_event_is_queued_and_stored_by_the_ingest(api, pool, ingest_key) -> None:
    async with api.client(ingest_key) as http, running(functools.partial(run_ingest, api.settings)):
        response = await http.post(PATH, json=event(1))
        assert response.status_code == 202, response.text
        body = response.json()
        assert set(body) == RESULT_FIELDS
        assert body["success"] is True
        assert body["queued"] is True
        assert body["timestamp"] == "2026-03-01T10:00:01.001000Z"
        rows = await wait_for(lambda: _rows(pool), message="the stored event")
    assert len(rows) == 1
    assert str(rows[0]["id"]) == body["activityId"]
    assert rows[0]["execution_id"] == "exec-1"


async def test_n8n_retrying_the_same_body_three_times_stores_one_row(api, pool, ingest_key) -> None:
    # What n8n's HTTP Request node sends: camelCase, x-api-key, no eventId, an
    # executionId and a timestamp; its "retry on fail" repeats the identical request.
    body = {
        "eventType": "MESSAGE_SENT",
        "leadAirtableId": "recN8nLead001",
        "description": "SMS sent via campaign",
        "messageContent": "Hi Sam, are you still looking?",
        "metadata": {"campaign_id": "c-42", "phone": "+15551234567"},
        "source": "n8n:wf-outreach",
        "executionId": "48213",
        "timestamp": "2026-03-02T09:15:00.000Z",
    }
    async with api.client(ingest_key) as http:
        ids = set()
        for _ in range(3):
            response = await http.post(PATH, json=body)
            assert response.status_code == 202
            ids.add(response.json()["activityId"])
    assert len(ids) == 1
    async with running(functools.partial(run_ingest, api.settings)):
        await wait_for(lambda: _rows(pool), message="the row")

        async def drained() -> bool:
            stats = await api.http.get("/api/internal/activity-health")
            stream = stats.json()["stream"]
            return stream["lag"] == 0 and stream["pending"] == 0

        await wait_for(drained, message="the stream to drain")
    rows = await _rows(pool)
    assert len(rows) == 1
    assert str(rows[0]["id"]) == ids.pop()


async def test_idempotency_key_names_the_event(api, ingest_key) -> None:
    single = event(1, timestamp=None, executionId=None)
    async with api.client(ingest_key) as http:
        first = await http.post(PATH, json=single, headers={"Idempotency-Key": "k-1"})
        second = await http.post(PATH, json=single, headers={"Idempotency-Key": "k-1"})
        other = await http.post(PATH, json=single, headers={"Idempotency-Key": "k-2"})
        # (Another body with a key used before is a 409: test_api_idempotency.py.)
        batch = await http.post(PATH, json=[single, single], headers={"Idempotency-Key": "k-3"})
    assert first.json()["activityId"] == second.json()["activityId"]
    assert other.json()["activityId"] != first.json()["activityId"]
    batch_ids = [r["activityId"] for r in batch.json()]
    assert len(set(batch_ids)) == 2
    assert first.json()["activityId"] not in batch_ids


async def test_an_array_gets_one_result_per_item(api, pool, ingest_key) -> None:
    items = [event(n) for n in range(5)]
    async with api.client(ingest_key) as http:
        response = await http.post(PATH, json=items)
    assert response.status_code == 202
    results = response.json()
    assert isinstance(results, list)
    assert len(results) == 5
    assert all(set(r) == RESULT_FIELDS and r["queued"] for r in results)
    async with running(functools.partial(run_ingest, api.settings)):
        rows = await wait_for(lambda: _five(pool), message="five rows")
    assert sorted(str(r["id"]) for r in rows) == sorted(r["activityId"] for r in results)


async def _five(pool) -> list:
    rows = await _rows(pool)
    return rows if len(rows) == 5 else []


def _error_fields(response) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


BAD_BODIES = [
    ("wrong JSON", b'{"eventType": "MESSAGE_SENT",', 400, "not valid JSON"),
    ("empty body", b"", 400, "empty"),
    ("a number", b"42", 400, "must be an event object or an array"),
    ("empty array", b"[]", 400, "empty"),
    (
        "wrong types",
        orjson.dumps(event(1, description=123, metadata="not an object")),
        400,
        "description",
    ),
    ("unknown eventType", orjson.dumps(event(1, eventType="SMS_ZAPPED")), 400, "eventType"),
    ("NUL byte", orjson.dumps(event(1, description="bad \x00 text")), 400, "NUL"),
    (
        "NUL in metadata",
        orjson.dumps(event(1, metadata={"note": "a\x00b"})),
        400,
        "NUL",
    ),
    ("missing fields", orjson.dumps({"eventType": "NOTE_ADDED"}), 400, "field required"),
    (
        "inconsistent category",
        orjson.dumps(event(1, eventCategory="BOOKING")),
        400,
        "eventCategory",
    ),
    ("bad timestamp", orjson.dumps(event(1, timestamp="yesterday")), 400, "timestamp"),
    # Each of these was answered 202 and then stopped the worker, or overflowed on the way.
    ("year 1", orjson.dumps(event(1, timestamp="0001-01-01T00:00:00Z")), 400, "timestamp"),
    (
        "year 9999",
        orjson.dumps(event(1, timestamp="9999-12-31T23:59:59.999999Z")),
        400,
        "timestamp",
    ),
    ("year 1 at +14", orjson.dumps(event(1, timestamp="0001-01-01T00:00:00+14:00")), 400, "window"),
    ("9999 at -14", orjson.dumps(event(1, timestamp="9999-12-31T23:59:59-14:00")), 400, "window"),
    ("seconds past 2100", orjson.dumps(event(1, timestamp=253402300800)), 400, "Unix seconds"),
    ("milliseconds", orjson.dumps(event(1, timestamp=1772359200000)), 400, "milliseconds"),
    ("metadata 300 deep", deep_event(300), 400, "levels deep"),
    ("body 254 deep", deep_event(253), 400, "levels deep"),
    ("metadata 33 deep", deep_event(33), 400, "metadata.a.a"),
    (
        "too many events",
        orjson.dumps([event(n) for n in range(1001)]),
        400,
        "at most 1000",
    ),
    (
        "oversized body",
        orjson.dumps(event(1, messageContent="x" * (1024 * 1024))),
        413,
        "1 MiB",
    ),
]


async def test_bad_input_is_a_clear_4xx(api, pool, ingest_key) -> None:
    async with api.client(ingest_key) as http:
        for name, content, status, expect in BAD_BODIES:
            response = await http.post(
                PATH, content=content, headers={"content-type": "application/json"}
            )
            assert response.status_code == status, (name, response.text)
            body = response.json()
            assert body["success"] is False
            assert expect in body["error"], (name, body)
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 0


async def test_a_bad_type_names_the_field_and_lists_the_valid_types(api, ingest_key) -> None:
    async with api.client(ingest_key) as http:
        response = await http.post(PATH, json=[event(1), event(2, eventType="NOPE")])
    assert response.status_code == 400
    body = response.json()
    assert body["errors"][0]["field"] == "[1].eventType"
    assert "MESSAGE_SENT" in body["errors"][0]["message"]
    assert "BULK_IMPORT" in body["validTypes"]


async def test_a_bad_tracking_plan_key_is_a_400_naming_it_and_aliases_are_stored_one_way(
    api, pool, ingest_key
) -> None:
    sent = event(1, eventType="MESSAGE_SENT")
    async with api.client(ingest_key) as http:
        response = await http.post(PATH, json={**sent, "metadata": {"phone": "12345"}})
        assert response.status_code == 400, response.text
        assert _error_fields(response) == ["metadata.phone"]
        response = await http.post(
            PATH,
            json=[
                {**sent, "metadata": {"campaignId": "spring"}},
                {**sent, "metadata": {"campaign_id": 5}},
            ],
        )
        assert response.status_code == 400, response.text
        assert _error_fields(response) == ["[1].metadata.campaign_id"]
        # The PRD's spellings: stored in the plan's form.
        prd = {
            "campaign_id": "chatgpt_use_cases",
            "simpletexting_id": "st-99",
            "phone": "4085550001",
        }
        response = await http.post(PATH, json={**sent, "metadata": prd})
        assert response.status_code == 202, response.text
    await drain(api.settings)
    stored = orjson.loads(await pool.fetchval("SELECT metadata::text FROM lead_activity_log"))
    assert stored == {
        "campaignId": "chatgpt_use_cases",
        "messageId": "st-99",
        "provider": "simpletexting",
        "phone": "+14085550001",
    }


async def test_wrong_types_name_every_field(api, ingest_key) -> None:
    async with api.client(ingest_key) as http:
        response = await http.post(PATH, json=event(1, description=123, leadId="not-a-uuid"))
    assert response.status_code == 400
    assert {"description", "leadId"} <= set(_error_fields(response))


async def test_keys_and_roles(api, make_key) -> None:
    portal = await make_key("portal", client_id=uuid.uuid4())
    async with api.client(None) as http:
        assert (await http.post(PATH, json=event(1))).status_code == 401
    async with api.client("alk_not-a-real-key") as http:
        response = await http.post(PATH, json=event(1))
        assert response.status_code == 401
        assert "invalid" in response.json()["error"]
    async with api.client(portal) as http:
        assert (await http.post(PATH, json=event(1))).status_code == 403


async def test_redis_down_stores_directly_with_201(
    api_settings: Settings, serve, pool, ingest_key
) -> None:
    closed = api_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with serve(closed) as api, api.client(ingest_key) as http:
        single = await http.post(PATH, json=event(1))
        batch = await http.post(PATH, json=[event(2), event(3)])
        again = await http.post(PATH, json=event(1))
    assert single.status_code == 201, single.text
    assert single.json()["queued"] is False
    assert batch.status_code == 201
    assert again.json()["activityId"] == single.json()["activityId"]
    ids = {str(r["id"]) for r in await _rows(pool)}
    assert ids == {single.json()["activityId"], *(r["activityId"] for r in batch.json())}


async def test_postgres_down_still_queues_on_the_stream(
    api_settings: Settings, serve, infra, ingest_key, redis
) -> None:
    pg = _host_port(infra.database_url)
    proxy = TcpProxy(*pg)
    await proxy.start()
    via_proxy = api_settings.model_copy(
        update={"database_url": _through(infra.database_url, proxy.port)}
    )
    try:
        async with serve(via_proxy) as api, api.client(ingest_key) as http:
            assert (await http.post(PATH, json=event(1))).status_code == 202  # key now verified
            await proxy.cut()
            response = await http.post(PATH, json=event(2))
            assert response.status_code == 202, response.text
            assert response.json()["queued"] is True
    finally:
        await proxy.cut()
    assert await redis.xlen(api_settings.activity_stream) == 2


async def test_both_down_is_503_with_retry_after(
    api_settings: Settings, serve, infra, pool, ingest_key
) -> None:
    pg_proxy = TcpProxy(*_host_port(infra.database_url))
    redis_proxy = TcpProxy(*_host_port(infra.redis_url))
    await pg_proxy.start()
    await redis_proxy.start()
    proxied = api_settings.model_copy(
        update={
            "database_url": _through(infra.database_url, pg_proxy.port),
            "redis_url": _through(infra.redis_url, redis_proxy.port),
        }
    )
    try:
        async with serve(proxied) as api, api.client(ingest_key) as http:
            assert (await http.post(PATH, json=event(1))).status_code == 202
            await pg_proxy.cut()
            await redis_proxy.cut()
            response = await http.post(PATH, json=event(2))
            assert response.status_code == 503, response.text
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["success"] is False
            await pg_proxy.restore()
            # Back up: the same request now goes through (PostgreSQL directly).
            retried = await http.post(PATH, json=event(2))
            assert retried.status_code == 201, retried.text
    finally:
        await pg_proxy.cut()
        await redis_proxy.cut()
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 1


def _host_port(url: str) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 0


def _through(url: str, port: int) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host).geturl()


async def test_only_uncompressed_json_is_accepted(api, pool, ingest_key) -> None:
    body = orjson.dumps(event(1))
    async with api.client(ingest_key) as http:
        for headers, field in [
            ({"content-type": "text/plain"}, "Content-Type"),
            ({"content-type": "application/x-www-form-urlencoded"}, "Content-Type"),
            ({}, "Content-Type"),
            ({"content-type": "application/json", "content-encoding": "gzip"}, "Content-Encoding"),
        ]:
            response = await http.post(PATH, content=body, headers=headers)
            assert response.status_code == 415, (headers, response.text)
            assert response.json()["errors"][0]["field"] == field
        ok = await http.post(
            PATH, content=body, headers={"content-type": "application/json; charset=utf-8"}
        )
        assert ok.status_code == 202, ok.text
        vendor = await http.post(
            PATH,
            content=orjson.dumps(event(2)),
            headers={"content-type": "application/vnd.n8n+json"},
        )
        assert vendor.status_code == 202, vendor.text


async def test_the_same_event_twice_in_one_array_is_refused(api, pool, ingest_key) -> None:
    same_id = str(uuid.uuid4())
    by_id = [event(1, eventId=same_id), event(2), event(3, eventId=same_id)]
    by_content = [event(4), event(4)]  # one timestamp and content: one id by the id rule
    async with api.client(ingest_key) as http:
        response = await http.post(PATH, json=by_id)
        assert response.status_code == 400, response.text
        assert response.json()["errors"] == [
            {
                "field": "[2].eventId",
                "message": f"the same event as [0] (id {same_id}); send each event once",
            }
        ]
        response = await http.post(PATH, json=by_content)
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["field"] == "[1].eventId"
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 0


# -- read your own writes: Prefer: wait=N and ?wait=true (docs/CONTRACT.md §5) -------------------


def test_the_wait_preference_is_read_as_rfc_7240_writes_it() -> None:
    from activitylog_api.ingest_body import wait_seconds

    assert wait_seconds(None, None) is None
    assert wait_seconds("wait=3", None) == 3
    assert wait_seconds("respond-async, wait=2", None) == 2
    assert wait_seconds('handling=lenient, wait="4";x=1, return=minimal', None) == 4
    assert wait_seconds("WAIT = 1.5", None) == 1.5
    assert wait_seconds("wait=30", None) == 5  # capped
    assert wait_seconds("wait=0", None) is None
    assert wait_seconds("wait=soon", None) is None  # not understood: ignored
    assert wait_seconds("waiting=3", None) is None
    assert wait_seconds(None, True) == 5
    assert wait_seconds("wait=2", True) == 2
    assert wait_seconds("wait=2", False) is None


async def _timeline(http, lead: str) -> list[dict]:
    response = await http.get(f"/api/leads/{lead}/activity")
    assert response.status_code == 200, response.text
    return response.json()["timeline"]


async def test_a_wait_answers_once_the_ingest_has_stored_the_event(
    api, pool, ingest_key, admin_key, monkeypatch
) -> None:
    from activitylog.use_cases import live

    # Only the ingest's announcement can end the wait early: the database is not asked.
    monkeypatch.setattr(live.hub, "WAIT_CHECK_S", 60.0)
    lead = "recWaitLead0001"
    note = event(1, leadAirtableId=lead, eventType="NOTE_ADDED", description="Called back")
    async with (
        api.client(ingest_key) as http,
        api.client(admin_key) as reader,
        running(functools.partial(run_ingest, api.settings)),
    ):
        started = time.monotonic()
        response = await http.post(PATH, json=note, headers={"Prefer": "wait=5"})
        waited = time.monotonic() - started
        assert response.status_code == 201, response.text
        assert response.headers["preference-applied"] == "wait=5"
        body = response.json()
        assert set(body) == RESULT_FIELDS
        assert body["queued"] is False
        assert waited < 4.5, waited  # announced, not timed out
        # Read at once, no polling: the row is there.
        assert [i["id"] for i in await _timeline(reader, lead)] == [body["activityId"]]

        # ?wait=true, an array, a wait asked for longer than allowed: every one stored.
        batch = [event(n, leadAirtableId=lead) for n in (2, 3, 4)]
        response = await http.post(
            PATH, params={"wait": "true"}, json=batch, headers={"Prefer": "wait=60"}
        )
        assert response.status_code == 201, response.text
        assert response.headers["preference-applied"] == "wait=5"
        assert [r["queued"] for r in response.json()] == [False, False, False]
        assert len(await _timeline(reader, lead)) == 4

        # The same Idempotency-Key again: stored long ago, answered at once.
        key = {"Idempotency-Key": "wait-repeat", "Prefer": "wait=5"}
        first = await http.post(PATH, json=event(5, leadAirtableId=lead), headers=key)
        started = time.monotonic()
        again = await http.post(PATH, json=event(5, leadAirtableId=lead), headers=key)
        assert (first.status_code, again.status_code) == (201, 201), again.text
        assert again.json()["activityId"] == first.json()["activityId"]
        assert time.monotonic() - started < 4.5

        # ?wait=false never waits, whatever the Prefer header says.
        response = await http.post(
            PATH,
            params={"wait": "false"},
            json=event(6, leadAirtableId=lead),
            headers=key | {"Idempotency-Key": "no-wait"},
        )
        assert response.status_code == 202
        assert "preference-applied" not in response.headers


async def test_a_wait_that_runs_out_is_a_202_saying_so(api, pool, ingest_key) -> None:
    # No ingest runs: the event stays on the stream.
    async with api.client(ingest_key) as http:
        started = time.monotonic()
        response = await http.post(PATH, json=event(1), headers={"Prefer": "wait=1"})
        waited = time.monotonic() - started
        plain = await http.post(PATH, json=event(2))
    assert response.status_code == 202, response.text
    assert response.headers["preference-applied"] == "wait=1"
    assert response.json()["queued"] is True
    assert 0.9 < waited < 4, waited
    assert plain.status_code == 202
    assert "preference-applied" not in plain.headers


async def test_a_wait_ends_at_once_when_the_event_is_parked(api, pool, ingest_key) -> None:
    # A phone no lead has: the event waits in the retry queue (Unplaced), not in the log.
    lost = event(1, leadAirtableId=None, leadPhone="+14085559999")
    async with api.client(ingest_key) as http, running(functools.partial(run_ingest, api.settings)):
        started = time.monotonic()
        response = await http.post(PATH, json=lost, headers={"Prefer": "wait=5"})
        waited = time.monotonic() - started
    assert response.status_code == 202, response.text
    assert response.json()["queued"] is True
    assert response.headers["preference-applied"] == "wait=5"
    assert waited < 4.5, waited
    assert await pool.fetchval("SELECT count(*) FROM retry_queue WHERE status = 'pending'") == 1


async def test_a_wait_while_redis_is_down_is_the_direct_store(
    api_settings: Settings, serve, pool, ingest_key
) -> None:
    closed = api_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with serve(closed) as api, api.client(ingest_key) as http:
        response = await http.post(PATH, json=event(1), headers={"Prefer": "wait=3"})
    assert response.status_code == 201, response.text
    assert response.json()["queued"] is False
    assert response.headers["preference-applied"] == "wait=3"
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 1
