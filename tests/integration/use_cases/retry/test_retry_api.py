"""The retry-queue endpoints: list, show, replay, discard — admin key only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from activitylog.domain.dead_letters import RetryStatus
from activitylog.storage import api_keys
from activitylog.use_cases.access.keys import Role, generate_key, hash_key, key_prefix
from activitylog_api.app import create_app
from support import event

BASE = "/api/admin/retry-queue"


async def make_key(pool, role: Role) -> str:
    key = generate_key()
    async with pool.acquire() as conn:
        await api_keys.create(
            conn,
            name=f"retry-{role}",
            role=str(role),
            client_id=uuid.uuid4() if role is Role.PORTAL else None,
            key_hash=hash_key(key),
            key_prefix=key_prefix(key),
        )
    return key


@pytest_asyncio.fixture
async def client(pool, retry_settings) -> AsyncIterator[AsyncTestClient]:
    key = await make_key(pool, Role.ADMIN)
    async with AsyncTestClient(app=create_app(retry_settings)) as http:
        http.headers["x-api-key"] = key
        yield http


async def test_list_and_show(client, add_row) -> None:
    rows = [await add_row(event(n), lead_id=f"recLead{n:05d}") for n in range(5)]
    dead = await add_row(event(9), status=RetryStatus.DEAD, reason="gave up")

    body = (await client.get(BASE, params={"limit": 3})).json()
    assert [r["id"] for r in body["rows"]] == [dead.id, rows[4].id, rows[3].id]
    assert body["counts"] == {"pending": 5, "resolved": 0, "dead": 1, "discarded": 0}
    assert body["pagination"]["hasMore"]
    rest = (
        await client.get(BASE, params={"limit": 3, "cursor": body["pagination"]["nextCursor"]})
    ).json()
    assert [r["id"] for r in rest["rows"]] == [rows[2].id, rows[1].id, rows[0].id]
    assert not rest["pagination"]["hasMore"]

    only_dead = (await client.get(BASE, params={"status": "dead"})).json()["rows"]
    assert [r["id"] for r in only_dead] == [dead.id]
    assert only_dead[0]["lastError"] == "gave up"
    by_lead = (await client.get(BASE, params={"leadId": "recLead00002"})).json()["rows"]
    assert [r["id"] for r in by_lead] == [rows[2].id]

    shown = (await client.get(f"{BASE}/{rows[0].id}")).json()
    assert shown["queueId"] == rows[0].queue_id
    assert shown["status"] == "pending"
    assert '"eventType":"MESSAGE_SENT"' in shown["payload"]
    assert (await client.get(f"{BASE}/999999")).status_code == 404
    assert (await client.get(f"{BASE}/abc")).status_code == 404

    bad = await client.get(BASE, params={"status": "zombie"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "status"
    assert (await client.get(BASE, params={"cursor": "nonsense"})).status_code == 400


async def test_replay_is_idempotent(client, add_row, pool) -> None:
    lead = uuid.uuid4()
    row = await add_row(
        event(1, leadId=str(lead), leadAirtableId=None), status=RetryStatus.DEAD, reason="x"
    )
    failed = await client.post(f"{BASE}/{row.id}/replay")
    assert failed.status_code == 200
    assert failed.json()["success"] is False
    assert f"lead {lead} does not exist" in failed.json()["outcome"]["error"]
    assert failed.json()["row"]["status"] == "dead"

    await pool.execute("INSERT INTO leads (id, airtable_record_id) VALUES ($1, 'recApi1')", lead)
    ok = (await client.post(f"{BASE}/{row.id}/replay")).json()
    assert ok["success"] is True
    assert ok["outcome"]["inserted"] is True
    assert ok["row"]["status"] == "resolved"
    again = (await client.post(f"{BASE}/{row.id}/replay")).json()
    assert again["success"] is True
    assert again["outcome"]["inserted"] is False
    assert again["outcome"]["eventId"] == ok["outcome"]["eventId"]
    assert again["outcome"]["note"] == "already resolved; nothing to do"
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 1
    assert (await client.post(f"{BASE}/999999/replay")).status_code == 404


async def test_discard(client, add_row) -> None:
    row = await add_row(event(1))
    done = await client.post(f"{BASE}/{row.id}/discard", json={"reason": "test traffic"})
    assert done.status_code == 200
    assert done.json()["row"]["status"] == "discarded"
    assert done.json()["row"]["lastError"] == "discarded by an operator: test traffic"
    assert (await client.post(f"{BASE}/{row.id}/discard")).status_code == 200

    resolved = await add_row(event(2))
    assert (await client.post(f"{BASE}/{resolved.id}/replay")).json()["success"]
    refused = await client.post(f"{BASE}/{resolved.id}/discard")
    assert refused.status_code == 409
    bad = await client.post(f"{BASE}/{row.id}/discard", json={"why": "x"})
    assert bad.status_code == 400
    assert (await client.post(f"{BASE}/999999/discard")).status_code == 404


@pytest.mark.parametrize("role", [None, Role.INGEST, Role.PORTAL])
async def test_only_admin_keys(pool, retry_settings, add_row, role) -> None:
    row = await add_row(event(1))
    async with AsyncTestClient(app=create_app(retry_settings)) as http:
        if role is not None:
            http.headers["x-api-key"] = await make_key(pool, role)
        expected = 401 if role is None else 403
        assert (await http.get(BASE)).status_code == expected
        assert (await http.post(f"{BASE}/{row.id}/replay")).status_code == expected
        assert (await http.post(f"{BASE}/{row.id}/discard")).status_code == expected
    assert await pool.fetchval("SELECT status FROM retry_queue WHERE id = $1", row.id) == "pending"


async def test_rows_no_event_can_come_from_replay_and_show_without_a_500(client, add_row) -> None:
    """Rows queued before validation knew better: a year-1 time, 300 levels of metadata."""
    year_one = await add_row(event(1, timestamp="0001-01-01T00:00:00Z"), status=RetryStatus.DEAD)
    deep = '{"metadata":' + '{"a":' * 300 + "{}" + "}" * 300 + "}"
    nested = await add_row(deep, status=RetryStatus.DEAD)
    listed = await client.get(BASE)
    assert listed.status_code == 200, listed.text
    assert {r["id"] for r in listed.json()["rows"]} == {year_one.id, nested.id}
    shown = await client.get(f"{BASE}/{nested.id}")
    assert shown.status_code == 200
    assert shown.json()["payload"] == deep
    for row, why in ((year_one, "outside the accepted window"), (nested, "levels deep")):
        replayed = await client.post(f"{BASE}/{row.id}/replay")
        assert replayed.status_code == 200, replayed.text
        assert replayed.json()["success"] is False
        assert why in replayed.json()["outcome"]["error"]
        assert replayed.json()["row"]["status"] == "dead"
