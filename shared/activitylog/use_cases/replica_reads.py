"""Where the read routes read: a streaming replica while it is fresh enough, else the primary."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

from activitylog.contract.times import iso
from activitylog.domain.replica import (
    NOT_CHECKED,
    PrimaryPositions,
    ReadChoice,
    ReadsOn,
    ReplicaProbe,
    choose,
)
from activitylog.runtime.db import API_SERVER_SETTINGS, close_pool, connect, create_pool
from activitylog.runtime.logs import get_logger
from activitylog.runtime.metrics import READ_REPLICA_LAG, READS_ON_REPLICA
from activitylog.runtime.settings import Settings
from activitylog.storage import replication

log = get_logger("activitylog.replica")

READS_APPLICATION_NAME = "activitylog-reads"


class ReadRouting:
    """Holds the replica's pool and the latest check's choice; `pool()` is what a read route
    reads with. Without DATABASE_READ_URL it is always the primary's pool."""

    def __init__(self, primary: asyncpg.Pool, settings: Settings) -> None:
        self._primary = primary
        self._settings = settings
        self._replica: asyncpg.Pool | None = None
        self._probe_conn: asyncpg.Connection | None = None
        self._positions = PrimaryPositions()
        self._probe: ReplicaProbe | None = None
        self._task: asyncio.Task[None] | None = None
        self.choice: ReadChoice = NOT_CHECKED
        self.checked_at: datetime | None = None

    @property
    def configured(self) -> bool:
        return bool(self._settings.database_read_url)

    def pool(self) -> asyncpg.Pool:
        """The pool for a read route now (the replica's falls back by itself when it cannot
        give a connection)."""
        if self._replica is not None and self.choice.use_replica:
            return self._replica
        return self._primary

    async def start(self) -> None:
        """Open the replica's pool (lazily connecting) and check it every DATABASE_READ_CHECK_S."""
        url = self._settings.database_read_url
        if not url:
            return
        s = self._settings
        self._replica = await create_pool(
            url,
            min_size=0,
            max_size=s.database_pool_max,
            connect_timeout_s=s.database_read_timeout_s,
            statement_timeout_s=s.api_db_statement_timeout_s,
            acquire_timeout_s=s.api_db_acquire_timeout_s,
            fallback=self._primary,
            on_fallback=self._replica_failed,
            # Names its sessions in the replica's pg_stat_activity (the operator's, the tests').
            server_settings={"application_name": READS_APPLICATION_NAME, **API_SERVER_SETTINGS},
        )
        self._task = asyncio.get_running_loop().create_task(self._run(), name="read-replica")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._drop_probe_conn()
        if self._replica is not None:
            await close_pool(self._replica)

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # a bug here must not stop the checks; the primary serves
                log.exception("read replica check failed")
                self._set(ReadChoice(ReadsOn.UNREACHABLE, None))
            await asyncio.sleep(self._settings.database_read_check_s)

    async def check(self) -> ReadChoice:
        """Sample the primary's position, then ask the replica; decide and publish."""
        timeout = self._settings.database_read_timeout_s
        primary_answered = False
        sampled_at = time.monotonic()  # before asking: the bound stays an upper bound
        try:
            async with self._primary.acquire(timeout=timeout) as conn:
                lsn = await replication.primary_position(conn, timeout)
            self._positions.add(sampled_at, lsn)
            primary_answered = True
        except Exception as exc:
            log.debug("primary position unavailable", error=repr(exc))
        self._probe = await self._ask_replica()
        choice = choose(
            self._positions,
            self._probe,
            primary_answered,
            time.monotonic(),
            self._settings.database_read_max_lag_s,
        )
        self._set(choice)
        self.checked_at = datetime.now(UTC)
        return choice

    async def _ask_replica(self) -> ReplicaProbe | None:
        # Its own connection, outside the pool: the pool would fall back to the primary.
        timeout = self._settings.database_read_timeout_s
        try:
            if self._probe_conn is None or self._probe_conn.is_closed():
                self._probe_conn = await asyncio.wait_for(
                    connect(self._settings.database_read_url or "", timeout=timeout), timeout
                )
            return await replication.replica_probe(self._probe_conn, timeout)
        except Exception as exc:
            log.debug("read replica unavailable", error=repr(exc))
            await self._drop_probe_conn()
            return None

    async def _drop_probe_conn(self) -> None:
        conn, self._probe_conn = self._probe_conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    def _replica_failed(self, exc: BaseException) -> None:
        """A read could not get a replica connection: the primary serves until the next check."""
        if self.choice.use_replica:
            log.warning("read replica unavailable; reads on the primary", error=repr(exc))
        self._set(ReadChoice(ReadsOn.UNREACHABLE, None))

    def _set(self, choice: ReadChoice) -> None:
        if choice.on != self.choice.on:
            log.info("reads now on " + choice.on.value, lag_s=choice.lag_s)
        self.choice = choice
        READS_ON_REPLICA.set(1 if choice.use_replica else 0)
        READ_REPLICA_LAG.set(math.nan if choice.lag_s is None else choice.lag_s)

    def report(self) -> dict[str, Any]:
        """The health page's view: where reads go, why, and the replica's lag."""
        if not self.configured:
            return {"configured": False, "reads_on": "primary"}
        probe = self._probe
        return {
            "configured": True,
            "reads_on": "replica" if self.choice.use_replica else "primary",
            "state": self.choice.on.value,
            "lag_s": None if self.choice.lag_s is None else round(self.choice.lag_s, 3),
            "max_lag_s": self._settings.database_read_max_lag_s,
            "replay_paused": None if probe is None else probe.paused,
            "checked_at": iso(self.checked_at),
        }
