"""`activitylog ingest` as a real process: SIGTERM drains, /metrics moves, logs are JSON lines."""

from __future__ import annotations

import functools
import signal
import subprocess
import sys

import asyncpg
import redis.asyncio as aioredis
from deploy_support import REPO, json_log_lines, try_scrape, wait_exit

from activitylog.runtime.settings import Settings
from activitylog.storage.stream import publish
from activitylog_ingest.service import run_ingest
from activitylog_testing.polling import wait_for
from activitylog_testing.ports import free_port
from activitylog_testing.serving import running
from support import dumps, event, spawn, stop_process


async def count_rows(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM lead_activity_log"))


async def group_info(redis: aioredis.Redis, settings: Settings) -> dict:
    for info in await redis.xinfo_groups(settings.activity_stream):
        name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
        if name == settings.ingest_group:
            return info
    raise AssertionError("no ingest group")


async def test_sigterm_stops_ingest_within_10s_with_its_batch_committed(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis, artifacts
) -> None:
    total = 20_000
    await publish(redis, settings.activity_stream, [dumps(event(n)) for n in range(total)])
    log_path = artifacts / "ingest.log"
    log_path.unlink(missing_ok=True)  # spawn appends; keep only this run
    proc = spawn(["ingest"], settings, log_path=log_path, LOG_FORMAT="json")
    try:
        # Mid-backlog: some batches stored, many entries still to read.
        await wait_for(lambda: _between(pool, 1, total // 2), timeout=60, message="work started")
        proc.send_signal(signal.SIGTERM)
        code, waited = await wait_exit(proc, timeout=10)
    finally:
        stop_process(proc)
    assert code == 0, f"exit code {code} after {waited:.1f}s; log in {log_path}"
    assert waited < 10

    # Work committed: nothing delivered-but-unacknowledged, and every entry the group read
    # is a stored row (rows == entries read, since nothing is pending).
    info = await group_info(redis, settings)
    stored = await count_rows(pool)
    assert int(info["pending"]) == 0, info
    assert stored == int(info["entries-read"]), (stored, info)
    assert 0 < stored < total, "SIGTERM should land mid-backlog; make the backlog larger"
    assert any(line.get("event") == "ingest worker stopped" for line in json_log_lines(log_path))

    # The rest was left in the stream, not lost: a new worker stores exactly the remainder.
    async with running(functools.partial(run_ingest, settings)):
        await wait_for(lambda: _equals(pool, total), timeout=120, message=f"{total} rows")
    assert await pool.fetchval("SELECT count(*) FROM retry_queue") == 0


async def test_metrics_parse_and_count_events_and_logs_are_json_lines(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis, artifacts
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    log_path = artifacts / "ingest.log"
    log_path.unlink(missing_ok=True)  # spawn appends; keep only this run
    proc = spawn(
        ["ingest"],
        settings,
        log_path=log_path,
        METRICS_PORT=str(port),
        LOG_FORMAT="json",
        LOG_LEVEL="DEBUG",  # the ids of each batch are on a debug line
    )
    try:
        before = await wait_for(lambda: try_scrape(url), timeout=30, message="/metrics")
        assert before.has("python_gc_objects_collected_total")  # the default collectors too

        good = [dumps(event(n)) for n in range(250)]
        bad = [dumps(event(900, eventType="NOT_A_TYPE")), b"{not json"]
        good_ids = await publish(redis, settings.activity_stream, good)
        bad_ids = await publish(redis, settings.activity_stream, bad)

        consumed = "activitylog_stream_entries_consumed_total"
        stored = "activitylog_events_stored_total"
        dead = "activitylog_events_dead_lettered_total"

        async def moved():
            # Counted after the commit, so the rows are there once these have moved.
            now = await try_scrape(url)
            if now and now.value(stored) + now.value(dead) - before.value(stored) >= 252:
                return now
            return None

        after = await wait_for(moved, timeout=60, message="stored + dead-lettered +252")
        assert await count_rows(pool) == 250

        def delta(name: str, **labels: str) -> float:
            return after.value(name, **labels) - before.value(name, **labels)

        assert delta(consumed, path="ingest") == 252
        assert delta(stored, path="ingest") == 250
        assert delta("activitylog_events_duplicate_total", path="ingest") == 0
        assert delta(dead, path="ingest", status="dead") == 2
        assert delta("activitylog_batch_size_count", path="ingest") >= 1
        assert delta("activitylog_batch_size_sum", path="ingest") == 252
        assert delta("activitylog_batch_commit_seconds_count", path="ingest") >= 1
        assert after.families["activitylog_batch_commit_seconds"].type == "histogram"

        # The stream gauges are refreshed by the worker's housekeeping.
        async def gauges():
            now = await try_scrape(url)
            return now if now and now.has("activitylog_stream_lag") else None

        gauges_page = await wait_for(gauges, timeout=30, message="stream gauges")
        assert gauges_page.value("activitylog_stream_lag") == 0
        assert gauges_page.value("activitylog_stream_pending") == 0

        # The compose healthcheck's probe agrees the service is healthy.
        probe = subprocess.run(
            [sys.executable, str(REPO / "deploy" / "healthcheck.py"), url],
            capture_output=True,
            timeout=30,
        )
        assert probe.returncode == 0, probe.stderr
    finally:
        assert stop_process(proc) == 0

    lines = json_log_lines(log_path)
    assert lines, "no log lines"
    for line in lines:
        assert {"event", "level", "timestamp", "logger"} <= set(line), line
    batches = [ln for ln in lines if ln["event"] == "batch stored"]
    # The info line is counts and the id range, never the ids themselves (log volume).
    assert all("stream_ids" not in ln and ln["level"] == "info" for ln in batches)
    assert sum(ln["entries"] for ln in batches) == len(good_ids) + len(bad_ids)
    assert all({"first_id", "last_id", "commit_ms", "inserted"} <= set(ln) for ln in batches)
    batches = [ln for ln in lines if ln["event"] == "batch ids"]
    assert all(ln["level"] == "debug" for ln in batches)
    stream_ids = {sid for ln in batches for sid in ln["stream_ids"]}
    assert set(good_ids) | set(bad_ids) <= stream_ids
    event_ids = {eid for ln in batches for eid in ln["event_ids"]}
    rows = await pool.fetch("SELECT id::text, lead_airtable_id FROM lead_activity_log")
    assert {r["id"] for r in rows} == event_ids
    assert {r["lead_airtable_id"] for r in rows} == {
        lid for ln in batches for lid in ln["lead_ids"]
    }
    failures = [ln for ln in lines if ln["event"] == "entry sent to retry_queue"]
    assert {ln["stream_id"] for ln in failures} == set(bad_ids)
    assert all(ln["level"] == "warning" and ln["reason"] for ln in failures)
    assert any("NOT_A_TYPE" in ln["reason"] or "eventType" in ln["reason"] for ln in failures)


async def _between(pool: asyncpg.Pool, low: int, high: int) -> bool:
    return low <= await count_rows(pool) <= high


async def _equals(pool: asyncpg.Pool, n: int) -> bool:
    return await count_rows(pool) == n
