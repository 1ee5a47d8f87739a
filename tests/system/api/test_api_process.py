"""`activitylog api` as a process: serves, and stops cleanly on SIGTERM (one or more workers)."""

from __future__ import annotations

import time

import httpx
import pytest

from activitylog.runtime.settings import Settings
from activitylog_testing.ports import free_port
from activitylog_testing.serving import answering
from support import event, spawn, stop_process


@pytest.mark.parametrize("workers", [1, 2])
async def test_serves_and_stops_on_sigterm(
    settings: Settings, pool, ingest_key, redis, artifacts, workers
) -> None:
    port = free_port()
    proc = spawn(
        ["api"],
        settings.model_copy(update={"api_port": port, "api_workers": workers}),
        log_path=artifacts / f"api-{workers}.log",
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            await answering(http, "/health/ready", timeout=60, message="the API process")
            for n in range(20):
                response = await http.post(
                    "/api/internal/log-activity",
                    json=event(n),
                    headers={"x-api-key": ingest_key},
                )
                assert response.status_code == 202, response.text
            metrics = (await http.get("/metrics")).text
            # With several workers the figures are summed across them (multiprocess mode).
            assert 'activitylog_api_events_accepted_total{outcome="queued"} 20.0' in metrics
    finally:
        started = time.monotonic()
        code = stop_process(proc, timeout=20)
        elapsed = time.monotonic() - started
    assert code == 0, (artifacts / f"api-{workers}.log").read_text()[-3000:]
    assert elapsed < 10
    assert await redis.xlen(settings.activity_stream) == 20
