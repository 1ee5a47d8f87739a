"""The one service loop (runtime.service_loop): steps, outages, stop. No server needed."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from activitylog.runtime.backoff import Backoff
from activitylog.runtime.service_loop import Next, run_loop


def quick() -> Backoff:
    return Backoff(0.001, 0.002)


async def test_a_step_asking_again_runs_at_once_and_stop_ends_the_loop() -> None:
    stop = asyncio.Event()
    seen: list[int] = []

    async def step() -> Next:
        seen.append(len(seen))
        if len(seen) == 5:
            stop.set()
        return Next.AGAIN

    # An hour's interval would hang the test if AGAIN waited for it.
    await asyncio.wait_for(
        run_loop(step, stop=stop, backoff=quick(), job="t", interval_s=3600), timeout=5
    )
    assert seen == [0, 1, 2, 3, 4]


async def test_an_outage_backs_off_and_the_next_step_goes_on() -> None:
    stop = asyncio.Event()
    calls = 0

    async def step() -> Next:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionRefusedError("database down")
        return Next.STOP

    await asyncio.wait_for(run_loop(step, stop=stop, backoff=quick(), job="t"), timeout=5)
    assert calls == 3


async def test_anything_else_is_the_services_failure() -> None:
    async def step() -> Next:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await run_loop(step, stop=asyncio.Event(), backoff=quick(), job="t")


async def test_a_last_step_runs_once_more_after_stop() -> None:
    stop = asyncio.Event()
    stop.set()
    ran = 0

    async def step() -> None:
        nonlocal ran
        ran += 1

    await asyncio.wait_for(
        run_loop(step, stop=stop, backoff=quick(), job="t", interval_s=3600, last_step=True),
        timeout=5,
    )
    assert ran == 1


async def test_a_handler_may_deal_with_an_error_and_step_again() -> None:
    stop = asyncio.Event()
    errors: list[BaseException] = []
    calls = 0

    async def step() -> Next:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise asyncpg.exceptions.UndefinedTableError("gone")
        return Next.STOP

    def handled(exc: BaseException) -> Next:
        errors.append(exc)
        return Next.AGAIN

    await asyncio.wait_for(
        run_loop(step, stop=stop, backoff=Backoff(3600, 3600), job="t", outage=handled), timeout=5
    )
    assert calls == 2  # again at once: the hour's back-off was not waited
    assert len(errors) == 1
