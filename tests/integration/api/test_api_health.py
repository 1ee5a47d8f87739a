"""Health, readiness and metrics: the health body, its statuses, Prometheus figures."""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime

from activitylog.domain.dead_letters import DeadLetter, RetryStatus
from activitylog.storage import retry_queue
from activitylog.storage.stream import redis_client
from activitylog.use_cases.health import health_report
from activitylog_ingest.service import run_ingest
from activitylog_testing.leads import add_lead
from activitylog_testing.polling import wait_for
from activitylog_testing.ports import free_port
from activitylog_testing.serving import running
from api_support import event_row, insert_rows
from support import event

HEALTH = "/api/internal/activity-health"
HEALTH_FIELDS = {
    "status",
    "timestamp",
    "events_last_hour",
    "events_last_24h",
    "retry_queue_size",
    "unplaced_events",
    "followers_lag_s",
    "dead_letters",
    "stream",
    "last_event",
    "silent_sources",
    "rate_drops",
    "reasons",
}


async def _letters(pool, n: int, status: RetryStatus) -> None:
    async with pool.acquire() as conn:
        await retry_queue.add(
            conn,
            [DeadLetter(f"{status}-{i}", "recSecret001", "{}", "test", status) for i in range(n)],
        )


async def test_health_body_counts_arrivals_and_carries_no_lead_data(api, pool, ingest_key) -> None:
    lead = await add_lead(pool, "recSecret001", first_name="Secret", email="secret@example.com")
    # An event that happened long ago but arrived now counts: arrival time, not event time.
    await insert_rows(
        pool,
        [event_row(lead, airtable_id="recSecret001", timestamp=datetime(2020, 1, 1, tzinfo=UTC))],
    )
    await _letters(pool, 2, RetryStatus.PENDING)
    await _letters(pool, 1, RetryStatus.DEAD)
    response = await api.http.get(HEALTH)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == HEALTH_FIELDS
    assert set(body["stream"]) == {"length", "pending", "lag", "oldest_pending_age_s"}
    assert body["status"] == "healthy", body
    assert body["events_last_hour"] == 1
    assert body["events_last_24h"] == 1
    assert body["retry_queue_size"] == 2
    assert body["unplaced_events"] == 0  # these two wait for no lead
    assert body["dead_letters"] == 1
    assert body["last_event"].endswith("Z")
    assert body["stream"] == {"length": 0, "pending": 0, "lag": 0, "oldest_pending_age_s": 0.0}
    for secret in ("recSecret001", "Secret", "secret@example.com", str(lead)):
        assert secret not in response.text


async def test_degraded_on_backlog_or_lag_unhealthy_without_postgres(
    api, pool, redis, ingest_key
) -> None:
    settings = api.settings
    await _letters(pool, 21, RetryStatus.PENDING)
    body = (await api.http.get(HEALTH)).json()
    assert body["status"] == "degraded"
    assert "retry_queue_size 21 > 20" in body["reasons"][0]
    await pool.execute("TRUNCATE retry_queue")

    # The stream lags: more undelivered entries than the threshold.
    lagging = settings.model_copy(update={"health_max_stream_lag": 3})
    async with api.client(ingest_key) as http:
        await http.post("/api/internal/log-activity", json=[event(n) for n in range(5)])
    report = await health_report(pool, redis, lagging)
    assert report["status"] == "degraded"
    assert report["stream"]["lag"] == 5
    assert report["stream"]["length"] == 5

    # Drained by the ingest: healthy again.
    async with running(functools.partial(run_ingest, settings)):

        async def drained() -> bool:
            report = await health_report(pool, redis, lagging)
            return report["stream"]["lag"] == 0 and report["stream"]["pending"] == 0

        await wait_for(drained, message="the ingest to drain the stream")
    assert (await health_report(pool, redis, lagging))["status"] == "healthy"

    # An old undelivered entry is lag too, however few there are.
    old = settings.model_copy(update={"activity_stream": settings.activity_stream + ":old"})
    await redis.xadd(old.activity_stream, {"payload": b"{}"}, id="1000-0")
    report = await health_report(pool, redis, old)
    assert report["status"] == "degraded"
    assert "old" in report["reasons"][0]

    closed = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    dead_redis = redis_client(closed.redis_url or "")
    try:
        report = await health_report(pool, dead_redis, closed)
    finally:
        await dead_redis.aclose()
    assert report["status"] == "degraded"
    assert report["stream"]["length"] is None
    assert report["events_last_24h"] == 5


async def test_unhealthy_and_not_ready_without_postgres(api_settings, serve) -> None:
    down = api_settings.model_copy(
        update={"database_url": f"postgresql://postgres@127.0.0.1:{free_port()}/nope"}
    )
    async with serve(down) as api:
        health = await api.http.get(HEALTH)
        ready = await api.http.get("/health/ready")
        live = await api.http.get("/health/live")
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy"
    assert ready.status_code == 503
    assert ready.json()["postgres"].startswith("unavailable")
    assert ready.json()["redis"] == "ok"
    assert live.status_code == 200


async def test_ready_checks_both(api, api_settings, serve) -> None:
    response = await api.http.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "postgres": "ok", "redis": "ok"}
    closed = api_settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{free_port()}/0", "api_port": free_port()}
    )
    async with serve(closed) as down:
        response = await down.http.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["redis"].startswith("unavailable")


async def test_metrics(api, ingest_key, admin_key) -> None:
    async with api.client(ingest_key) as http:
        assert (await http.post("/api/internal/log-activity", json=event(1))).status_code == 202
    async with api.client(admin_key) as http:
        await http.get(f"/api/leads/recNope{uuid.uuid4().hex[:8]}/activity")
    text = (await api.http.get("/metrics")).text
    assert 'activitylog_api_events_accepted_total{outcome="queued"}' in text
    request_lines = [
        line for line in text.splitlines() if "activitylog_api_requests_total{" in line
    ]
    assert any(
        'path="/api/internal/log-activity"' in line and 'status_code="202"' in line
        for line in request_lines
    ), request_lines
    # Grouped by route template, not by each lead's URL.
    assert any('path="/api/leads/{id}/activity"' in line for line in request_lines), request_lines
    assert "activitylog_api_request_duration_seconds_bucket{" in text
