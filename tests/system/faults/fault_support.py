"""Fault-test helpers: a supervisor that restarts worker processes, stream and table checks."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

from activitylog.runtime.settings import Settings
from activitylog_testing.polling import wait_for
from support import spawn, stop_process

MAX_RESTARTS = 60  # a worker that cannot start at all must fail the test, not spin forever
# The log line each service writes once its signal handlers are in place.
STARTED = {"ingest": b"ingest worker started", "retry": b"retry service started"}


class Supervisor:
    """Keeps `count` processes of `activitylog ARGS` running, restarting any that exits."""

    def __init__(self, args: list[str], settings: Settings, logs: Path, *, count: int = 1) -> None:
        self.args = args
        self.settings = settings
        self.logs = logs
        self.count = count
        self.procs: list[subprocess.Popen[bytes]] = []
        self._log_offsets = [0] * count  # where the current process's log output begins
        self.exit_codes: list[int] = []  # of processes that exited while supervised
        self.final_codes: list[int] = []  # after SIGTERM at the end (0: a clean drain)
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    async def start(self) -> None:
        self.procs = [self._spawn(slot) for slot in range(self.count)]
        self._tasks = [asyncio.create_task(self._watch(slot)) for slot in range(self.count)]

    def consumer_base(self, slot: int) -> str:
        """Each slot has its own consumer name base, so a test can tell who holds what."""
        return f"{self.settings.ingest_consumer}-slot{slot}"

    def _log(self, slot: int) -> Path:
        return self.logs / f"{self.args[0]}-{slot}.log"

    def _spawn(self, slot: int) -> subprocess.Popen[bytes]:
        log = self._log(slot)
        self._log_offsets[slot] = log.stat().st_size if log.exists() else 0
        return spawn(
            self.args, self.settings, log_path=log, INGEST_CONSUMER=self.consumer_base(slot)
        )

    async def _watch(self, slot: int) -> None:
        while True:
            code = await asyncio.to_thread(self.procs[slot].wait)
            if self._closing:
                return
            self.exit_codes.append(code)
            if len(self.exit_codes) > MAX_RESTARTS:
                raise RuntimeError(f"{self.args} restarted too often: {self.exit_codes}")
            self.procs[slot] = self._spawn(slot)

    async def kill(self, slot: int) -> None:
        """SIGKILL: no clean-up, no acknowledgement, whatever the worker held stays pending.

        Returns once the replacement runs, so a quick second kill cannot hit the dead process.
        """
        victim = self.procs[slot]
        victim.kill()

        async def replaced() -> bool:
            return self.procs[slot] is not victim

        await wait_for(
            replaced,
            timeout=30,
            interval=0.01,
            message=f"slot {slot} restarted after SIGKILL",
        )

    def all_running(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    async def started(self) -> bool:
        """Every current process has started (a SIGTERM now tests its drain, not its import)."""
        marker = STARTED[self.args[0]]
        for slot in range(self.count):
            log = self._log(slot)
            if not log.exists():
                return False
            with log.open("rb") as f:
                f.seek(self._log_offsets[slot])
                if marker not in f.read():
                    return False
        return True

    async def close(self) -> list[int]:
        """SIGTERM every process once started; their exit codes (0 means a clean drain)."""
        if self.all_running():
            await wait_for(self.started, timeout=60, interval=0.1, message=f"{self.args} started")
        self._closing = True
        codes = await asyncio.gather(*(asyncio.to_thread(stop_process, p) for p in self.procs))
        self.final_codes = list(codes)
        for task in self._tasks:
            if task.done() and task.exception():
                raise task.exception()  # type: ignore[misc]
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return list(codes)


@contextlib.asynccontextmanager
async def supervised(
    args: list[str], settings: Settings, logs: Path, *, count: int = 1
) -> AsyncIterator[Supervisor]:
    sup = Supervisor(args, settings, logs, count=count)
    await sup.start()
    try:
        yield sup
    finally:
        await sup.close()


async def count_events(pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM lead_activity_log")
