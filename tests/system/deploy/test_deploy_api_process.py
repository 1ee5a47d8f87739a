"""`activitylog api` as a real process: SIGTERM drains in-flight requests, /metrics moves."""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
import sys

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis
from deploy_support import REPO, json_log_lines, try_scrape, wait_exit

from activitylog.runtime.settings import Settings
from activitylog_testing.polling import wait_for
from activitylog_testing.ports import free_port
from support import dumps, event, settings_env, spawn, stop_process

INGEST = "/api/internal/log-activity"


def create_key(settings: Settings, role: str = "ingest") -> str:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "activitylog_cli", "keys", "create"),
            *("--role", role, "--name", f"deploy-test-{role}"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=settings_env(settings),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1]


async def ready(base: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            return (await client.get(f"{base}/health/ready")).status_code == 200
    except httpx.HTTPError:
        return False


async def stream_event_ids(redis: aioredis.Redis, stream: str) -> set[str]:
    ids = set()
    for _, fields in await redis.xrange(stream, "-", "+"):
        ids.add(orjson.loads(fields[b"payload"])["eventId"])
    return ids


async def test_sigterm_stops_api_within_10s_and_every_202_is_in_the_stream(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis, artifacts
) -> None:
    key = await asyncio.to_thread(create_key, settings)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = artifacts / "api.log"
    log_path.unlink(missing_ok=True)  # spawn appends; keep only this run
    proc = spawn(["api"], settings, log_path=log_path, API_PORT=str(port), LOG_FORMAT="json")
    accepted: list[str] = []
    statuses: list[int] = []
    numbers = itertools.count()

    async def producer() -> None:
        async with httpx.AsyncClient(
            base_url=base, headers={"x-api-key": key, "content-type": "application/json"}
        ) as client:
            while True:
                try:
                    response = await client.post(INGEST, content=dumps(event(next(numbers))))
                except httpx.TransportError:
                    return  # the server is gone: the client knows nothing was accepted
                statuses.append(response.status_code)
                if response.status_code == 202:
                    accepted.append(response.json()["activityId"])

    try:
        await wait_for(lambda: ready(base), timeout=30, message="/health/ready")
        producers = [asyncio.create_task(producer()) for _ in range(8)]

        async def enough() -> bool:
            return len(accepted) >= 200

        await wait_for(enough, timeout=60, message="200 events accepted")
        proc.send_signal(signal.SIGTERM)
        code, waited = await wait_exit(proc, timeout=10)
        await asyncio.wait_for(asyncio.gather(*producers), timeout=10)
    finally:
        stop_process(proc)
    assert code == 0, f"exit code {code} after {waited:.1f}s; log in {log_path}"
    assert waited < 10
    assert set(statuses) == {202}, f"only 202s or refused connections: {set(statuses)}"
    in_stream = await stream_event_ids(redis, settings.activity_stream)
    assert set(accepted) <= in_stream, f"{len(set(accepted) - in_stream)} accepted, not in stream"
    assert len(set(accepted)) == len(accepted)
    json_log_lines(log_path)  # every line is JSON


async def test_api_metrics_parse_and_count_requests_and_events(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis, artifacts
) -> None:
    key = await asyncio.to_thread(create_key, settings)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/metrics"
    log_path = artifacts / "api.log"
    log_path.unlink(missing_ok=True)
    proc = spawn(["api"], settings, log_path=log_path, API_PORT=str(port), LOG_FORMAT="json")
    try:
        await wait_for(lambda: ready(base), timeout=30, message="/health/ready")
        before = await wait_for(lambda: try_scrape(url), timeout=30, message="/metrics")
        async with httpx.AsyncClient(
            base_url=base, headers={"x-api-key": key, "content-type": "application/json"}
        ) as client:
            batch = await client.post(INGEST, content=dumps([event(n) for n in range(10)]))
            assert batch.status_code == 202, batch.text
            for n in range(10, 15):
                assert (await client.post(INGEST, content=dumps(event(n)))).status_code == 202
            bad = await client.post(INGEST, content=dumps(event(99, eventType="NOT_A_TYPE")))
            assert bad.status_code == 400
        after = await try_scrape(url)
        assert after is not None

        def delta(name: str, **labels: str) -> float:
            return after.value(name, **labels) - before.value(name, **labels)

        assert delta("activitylog_api_events_accepted_total", outcome="queued") == 15
        requests = "activitylog_api_requests_total"
        assert delta(requests, path=INGEST, method="POST", status_code="202") == 6
        assert delta(requests, path=INGEST, method="POST", status_code="400") == 1
        assert delta("activitylog_api_request_duration_seconds_count", path=INGEST) == 7
        assert after.families["activitylog_api_request_duration_seconds"].type == "histogram"
        assert len(await stream_event_ids(redis, settings.activity_stream)) == 15

        probe = subprocess.run(
            [sys.executable, str(REPO / "deploy" / "healthcheck.py"), f"{base}/health/ready"],
            capture_output=True,
            timeout=30,
        )
        assert probe.returncode == 0, probe.stderr
    finally:
        assert stop_process(proc) == 0
    lines = json_log_lines(log_path)
    assert all({"event", "level", "timestamp"} <= set(line) for line in lines)
