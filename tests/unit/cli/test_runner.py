"""The process runner: stop on signal, cancel what ignores it after the grace period."""

from __future__ import annotations

import asyncio
import time

import pytest

from activitylog_cli.runner import run_services


async def test_a_service_that_ignores_stop_is_cancelled_after_the_grace_period() -> None:
    finished: list[str] = []

    async def polite(stop: asyncio.Event) -> None:
        await stop.wait()
        finished.append("polite")

    async def stuck(stop: asyncio.Event) -> None:
        await asyncio.Event().wait()  # never looks at `stop`

    stop = asyncio.Event()
    runner = asyncio.create_task(
        run_services({"polite": polite, "stuck": stuck}, stop, grace_s=0.3)
    )
    await asyncio.sleep(0)
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(runner, timeout=5)
    assert finished == ["polite"]
    assert 0.3 <= time.monotonic() - started < 3


async def test_a_failing_service_stops_the_others_and_is_reported() -> None:
    stopped: list[str] = []

    async def other(stop: asyncio.Event) -> None:
        await stop.wait()
        stopped.append("other")

    async def broken(stop: asyncio.Event) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await asyncio.wait_for(run_services({"other": other, "broken": broken}), timeout=5)
    assert stopped == ["other"]


async def test_a_stuck_service_is_reported_with_the_await_it_is_stuck_in() -> None:
    from activitylog_cli.runner import _stack

    async def waits_on_the_server(stop: asyncio.Event) -> None:
        await asyncio.Event().wait()

    async def service(stop: asyncio.Event) -> None:
        await waits_on_the_server(stop)

    task = asyncio.create_task(service(asyncio.Event()))
    await asyncio.sleep(0)  # let it run to its first suspension
    try:
        chain = _stack(task).split(" -> ")
        assert [part.split(":")[0].rsplit(".", 1)[-1] for part in chain[:2]] == [
            "service",
            "waits_on_the_server",
        ]
        assert chain[-1].startswith("Future")  # the event's future: where it waits
    finally:
        task.cancel()
