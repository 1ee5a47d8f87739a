"""`activitylog retry` as a real process: SIGTERM leaves no half-done row, /metrics moves."""

from __future__ import annotations

import functools
import signal
from datetime import UTC, datetime

import asyncpg
import redis.asyncio as aioredis
from deploy_support import json_log_lines, try_scrape, wait_exit

from activitylog.domain.dead_letters import DeadLetter, RetryStatus
from activitylog.runtime.settings import Settings
from activitylog.storage import retry_queue
from activitylog.storage.stream import ensure_group
from activitylog_retry.service import run_retry
from activitylog_testing.polling import wait_for
from activitylog_testing.ports import free_port
from activitylog_testing.serving import running
from support import dumps, event, spawn, stop_process


async def add_pending(pool: asyncpg.Pool, payloads: dict[str, bytes]) -> None:
    """Rows as an n8n fallback would leave them: pending, due now, keyed `<exec>-<item>`."""
    now = datetime.now(UTC)
    letters = [
        DeadLetter(queue_id, None, payload.decode(), "test", RetryStatus.PENDING, now)
        for queue_id, payload in payloads.items()
    ]
    async with pool.acquire() as conn:
        for start in range(0, len(letters), 2_000):
            await retry_queue.add(conn, letters[start : start + 2_000])


async def status_counts(pool: asyncpg.Pool) -> dict[str, int]:
    rows = await pool.fetch("SELECT status, count(*) AS n FROM retry_queue GROUP BY status")
    return {r["status"]: int(r["n"]) for r in rows}


async def stored_events(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM lead_activity_log"))


async def test_sigterm_stops_retry_within_10s_with_its_work_committed(
    settings: Settings, pool: asyncpg.Pool, artifacts
) -> None:
    total = 10_000
    await add_pending(pool, {f"exec-{n}-0": dumps(event(n)) for n in range(total)})
    log_path = artifacts / "retry.log"
    log_path.unlink(missing_ok=True)  # spawn appends; keep only this run
    proc = spawn(["retry"], settings, log_path=log_path, LOG_FORMAT="json", RETRY_BATCH_SIZE="50")
    try:

        async def mid_work() -> bool:
            return 0 < (await status_counts(pool)).get("resolved", 0) < total // 2

        await wait_for(mid_work, timeout=60, message="re-drive started")
        proc.send_signal(signal.SIGTERM)
        code, waited = await wait_exit(proc, timeout=10)
    finally:
        stop_process(proc)
    assert code == 0, f"exit code {code} after {waited:.1f}s; log in {log_path}"
    assert waited < 10

    # Every row is either untouched or resolved with its event stored: nothing half-done.
    counts = await status_counts(pool)
    assert set(counts) <= {"pending", "resolved"}, counts
    assert counts["resolved"] == await stored_events(pool), counts
    assert 0 < counts["resolved"] < total, "SIGTERM should land mid-work; add more rows"
    lines = json_log_lines(log_path)
    assert any(line.get("event") == "retry service stopped" for line in lines)

    async with running(functools.partial(run_retry, settings)):
        await wait_for(lambda: _all_resolved(pool, total), timeout=120, message=f"{total} resolved")
    assert await stored_events(pool) == total


async def _rows_gauge(url: str) -> dict[str, float] | None:
    page = await try_scrape(url)
    if page is None or "activitylog_retry_queue_rows" not in page.families:
        return None
    values = {
        s.labels["status"]: s.value for s in page.families["activitylog_retry_queue_rows"].samples
    }
    return values if values.get("resolved", 0) >= 40 else None


async def test_retry_metrics_parse_and_count_what_it_does(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis, artifacts
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    log_path = artifacts / "retry.log"
    log_path.unlink(missing_ok=True)
    proc = spawn(["retry"], settings, log_path=log_path, METRICS_PORT=str(port), LOG_FORMAT="json")
    try:
        before = await wait_for(lambda: try_scrape(url), timeout=30, message="/metrics")

        await add_pending(pool, {f"exec-{n}-0": dumps(event(n)) for n in range(40)})
        await add_pending(pool, {"exec-bad-0": dumps(event(99, eventType="NOT_A_TYPE"))})
        # An entry delivered to a consumer that died: the retry service claims and stores it.
        await ensure_group(redis, settings.activity_stream, settings.ingest_group)
        stale_id = (
            await redis.xadd(settings.activity_stream, {"payload": dumps(event(500))})
        ).decode()
        await redis.xreadgroup(
            settings.ingest_group, "dead-consumer", {settings.activity_stream: ">"}, count=1
        )

        def delta(page, name: str, **labels: str) -> float:
            return page.value(name, **labels) - before.value(name, **labels)

        async def moved():
            page = await try_scrape(url)
            done = page is not None and (
                delta(page, "activitylog_retry_attempts_total", outcome="resolved") >= 40
                and delta(page, "activitylog_retry_attempts_total", outcome="dead") >= 1
                and delta(page, "activitylog_events_stored_total", path="retry") >= 1
                and delta(page, "activitylog_alerts_total", kind="dead") >= 1
            )
            return page if done else None

        after = await wait_for(moved, timeout=60, message="retry counters moved")
        assert delta(after, "activitylog_retry_attempts_total", outcome="resolved") == 40
        assert delta(after, "activitylog_retry_attempts_total", outcome="dead") == 1
        assert delta(after, "activitylog_stream_entries_consumed_total", path="retry") == 1
        assert delta(after, "activitylog_events_stored_total", path="retry") == 1
        assert delta(after, "activitylog_events_stored_total", path="retry_queue") == 40
        assert delta(after, "activitylog_alerts_total", kind="dead", outcome="logged") >= 1
        assert after.families["activitylog_retry_queue_pending"].type == "gauge"
        rows_by_status = await wait_for(
            lambda: _rows_gauge(url), timeout=30, message="retry_queue_rows gauge"
        )
        assert rows_by_status["resolved"] >= 40
        assert await stored_events(pool) == 41
    finally:
        assert stop_process(proc) == 0

    lines = json_log_lines(log_path)
    assert all({"event", "level", "timestamp"} <= set(line) for line in lines)
    attempted = [ln for ln in lines if ln["event"] == "retry_queue rows attempted"]
    assert sum(ln["resolved"] for ln in attempted) == 40
    dead = [ln for ln in lines if ln["event"] == "retry_queue row went dead"]
    assert [ln["queue_id"] for ln in dead] == ["exec-bad-0"]
    assert "NOT_A_TYPE" in dead[0]["reason"] or "eventType" in dead[0]["reason"]
    batches = [ln for ln in lines if ln["event"] == "batch stored"]
    assert [(ln["entries"], ln["first_id"], ln["last_id"]) for ln in batches] == [
        (1, stale_id, stale_id)
    ]


async def _all_resolved(pool: asyncpg.Pool, total: int) -> bool:
    return (await status_counts(pool)).get("resolved", 0) == total
