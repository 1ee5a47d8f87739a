"""PostgreSQL refused or hung: every route answers 503 + Retry-After within seconds, and
serves again as soon as the database is back, without a restart (through tests/tcp_proxy)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest_asyncio

from activitylog.domain.reads.query import ActivityFilter, Ordering
from activitylog.runtime.db import create_pool
from activitylog_api.csv_export import INTERRUPTED_MARK, export_rows
from activitylog_testing.leads import add_lead
from activitylog_testing.polling import wait_for
from api_support import event_row, insert_rows, sign_in_ui
from tcp_proxy import TcpProxy, proxy_for_database

LEAD = "recOutage0001"
RETRY_AFTER = "7"
# Each limit well under a test's patience; a hung request costs at most about
# statement + acquire (asyncpg waits for the cancel it sent before giving the connection up).
TIMEOUTS = {
    "api_db_connect_timeout_s": 1.0,
    "api_db_acquire_timeout_s": 1.5,
    "api_db_statement_timeout_s": 2.0,
}
HUNG_LIMIT_S = 6.0


@dataclass
class Outage:
    proxy: TcpProxy
    api: httpx.AsyncClient  # admin key
    ui: httpx.AsyncClient  # signed-in admin session
    row_id: int


@pytest_asyncio.fixture
async def outage(api_settings, serve, pool, admin_key) -> AsyncIterator[Outage]:
    """The API reaching PostgreSQL through a proxy, with a lead, events and a retry row."""
    lead = await add_lead(pool, LEAD, first_name="Ada")
    await insert_rows(pool, [event_row(lead, airtable_id=LEAD) for _ in range(3)])
    row_id = await pool.fetchval(
        "INSERT INTO retry_queue (queue_id, payload, status, last_error) "
        "VALUES ('q-outage', '{}', 'dead', 'x') RETURNING id"
    )
    proxy, proxied_url = proxy_for_database(api_settings.database_url or "")
    await proxy.start()
    settings = api_settings.model_copy(
        update={"database_url": proxied_url, "api_retry_after_s": int(RETRY_AFTER), **TIMEOUTS}
    )
    try:
        async with (
            serve(settings) as running,
            running.client(admin_key) as api,
            running.client(None) as ui,
        ):
            await sign_in_ui(pool, ui)
            yield Outage(proxy, api, ui, row_id)
    finally:
        await proxy.cut()


def _api_requests(row_id: int) -> list[tuple[str, str, dict]]:
    base = "/api/admin/retry-queue"
    return [
        ("GET", f"/api/leads/{LEAD}/activity", {}),
        ("GET", "/api/admin/activity-logs/", {}),
        ("GET", "/api/admin/activity-logs/", {"params": {"search": "Ada"}}),
        ("GET", "/api/admin/activity-logs/counts", {}),
        ("GET", "/api/admin/activity-logs/export.csv", {}),
        ("PUT", f"/api/internal/leads/{LEAD}", {"json": {"lastName": "Lovelace"}}),
        ("GET", f"{base}/", {}),
        ("GET", f"{base}/{row_id}", {}),
        ("POST", f"{base}/{row_id}/replay", {}),
        ("POST", f"{base}/{row_id}/discard", {}),
    ]


UI_PAGES = [
    "/admin",
    "/admin/activity-logs",
    f"/admin/leads/{LEAD}",
    "/admin/retry-queue",
    "/admin/activity-logs/export.csv",
]
HEALTH = ["/api/internal/activity-health", "/health/ready"]


async def _timed(http: httpx.AsyncClient, method: str, path: str, **kwargs) -> tuple:
    started = time.monotonic()
    response = await http.request(method, path, **kwargs)
    return response, time.monotonic() - started


async def _all_unavailable(o: Outage, *, limit_s: float) -> None:
    """Every route: 503, Retry-After, the usual error body (API) or error page (UI)."""
    api = [_timed(o.api, m, p, **kw) for m, p, kw in _api_requests(o.row_id)]
    ui = [_timed(o.ui, "GET", p) for p in UI_PAGES]
    health = [_timed(o.api, "GET", p) for p in HEALTH]
    results = await asyncio.gather(*api, *ui, *health)
    for response, elapsed in results:
        where = f"{response.request.method} {response.request.url.path}"
        assert response.status_code == 503, (where, response.text[:500])
        assert elapsed < limit_s, (where, elapsed)
    for response, _ in results[: len(api)]:
        assert response.headers["retry-after"] == RETRY_AFTER, response.request.url
        body = response.json()
        assert body["success"] is False
        assert "PostgreSQL" in body["error"], body
    for response, _ in results[len(api) + len(ui) :]:
        # The health checks' 503s say when to look again, like every other 503.
        assert response.headers["retry-after"] == RETRY_AFTER, response.request.url
    for response, _ in results[len(api) : len(api) + len(ui)]:
        assert response.headers["retry-after"] == RETRY_AFTER, response.request.url
        assert response.headers["content-type"].startswith("text/html")
        assert "Database unavailable" in response.text
        assert "Traceback" not in response.text


async def _all_served(o: Outage) -> None:
    for method, path, kwargs in _api_requests(o.row_id):
        response = await o.api.request(method, path, **kwargs)
        assert response.status_code in (200, 201), (method, path, response.text[:500])
    for path in UI_PAGES:
        response = await o.ui.get(path)
        assert response.status_code == 200, (path, response.text[:500])
    export = await o.api.get("/api/admin/activity-logs/export.csv")
    assert len(export.text.strip().splitlines()) == 4


async def _recovers(o: Outage) -> None:
    async def timeline_back() -> bool:
        return (await o.api.get(f"/api/leads/{LEAD}/activity")).status_code == 200

    # The first request after the outage may meet a connection the pool has not yet
    # found dead; within a few seconds every route serves again.
    await wait_for(timeline_back, timeout=15, message="the timeline to answer again")
    await _all_served(o)


async def test_database_refused_then_back(outage: Outage, make_key) -> None:
    fresh = await make_key("admin", name="never-used")
    for path in ("/admin/activity-logs", f"/api/leads/{LEAD}/activity"):
        client = outage.ui if path.startswith("/admin") else outage.api
        assert (await client.get(path)).status_code == 200  # the key and session are known
    await outage.proxy.cut()
    await _all_unavailable(outage, limit_s=HUNG_LIMIT_S)
    # A key never seen cannot be checked: 503 through the same handler, not 401.
    unknown = await outage.api.get(f"/api/leads/{LEAD}/activity", headers={"x-api-key": fresh})
    assert unknown.status_code == 503
    assert unknown.headers["retry-after"] == RETRY_AFTER
    assert unknown.json() == {
        "success": False,
        "error": "cannot verify the API key: the database is unavailable",
    }
    await outage.proxy.restore()
    await _recovers(outage)


async def test_database_hung_then_back(outage: Outage) -> None:
    for path in ("/admin/activity-logs", f"/api/leads/{LEAD}/activity"):
        client = outage.ui if path.startswith("/admin") else outage.api
        assert (await client.get(path)).status_code == 200
    # Accepts connections, answers nothing: without limits each request waits minutes.
    await outage.proxy.hang()
    await _all_unavailable(outage, limit_s=HUNG_LIMIT_S)
    await outage.proxy.restore()
    await _recovers(outage)


async def test_an_export_cut_midway_ends_with_an_error_line(api_settings, pool) -> None:
    lead = await add_lead(pool, LEAD)
    await insert_rows(pool, [event_row(lead, airtable_id=LEAD) for _ in range(250)])
    proxy, proxied_url = proxy_for_database(api_settings.database_url or "")
    await proxy.start()
    proxied = await create_pool(
        proxied_url, min_size=0, max_size=2, connect_timeout_s=1, acquire_timeout_s=2
    )
    try:
        body = await export_rows(proxied, ActivityFilter(), Ordering(), chunk_rows=100)
        chunks = [await anext(body), await anext(body)]  # the header and 100 rows
        await proxy.cut()
        chunks += [chunk async for chunk in body]
    finally:
        await proxy.cut()
        await proxied.close()
    lines = b"".join(chunks).decode().splitlines()
    assert len(lines) == 1 + 100 + 1
    assert lines[-1] == (
        f"{INTERRUPTED_MARK} export interrupted: database unavailable; "
        "the rows above are incomplete"
    )
    assert not any(line.startswith("#") for line in lines[:-1])


async def test_an_export_checks_the_database_before_its_first_byte(outage: Outage) -> None:
    assert (await outage.api.get(f"/api/leads/{LEAD}/activity")).status_code == 200  # key known
    await outage.proxy.cut()
    for client, path in (
        (outage.api, "/api/admin/activity-logs/export.csv"),
        (outage.ui, "/admin/activity-logs/export.csv"),
    ):
        response = await client.get(path)
        assert response.status_code == 503, path
        assert "Timestamp,Category" not in response.text
