"""asyncpg pools and connections with the codecs every service expects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import orjson

# Errors that say "the database is not reachable right now": back off and try again.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.InsufficientResourcesError,
    asyncpg.QueryCanceledError,
)


# The API's pools: each of its statements reads a page, a count or a figure, and JIT
# compilation (which PostgreSQL starts above jit_above_cost, a cost that a plan over every
# month of the log passes) takes longer than such a read: at 10 M events, 6 of the 8 ms of a
# search's row estimate (an EXPLAIN initialises the plan, expressions compiled included).
API_SERVER_SETTINGS = {"jit": "off"}


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same work later may succeed (outage, deadlock, restart)."""
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    sqlstate = getattr(exc, "sqlstate", None) or ""
    # 08: connection exception, 53: insufficient resources, 57P: operator intervention.
    return sqlstate.startswith(("08", "53", "57P", "40"))


def _encode_jsonb(value: Any) -> bytes:
    return b"\x01" + orjson.dumps(value)  # jsonb's binary form: version 1, then the text


def _decode_jsonb(data: bytes) -> Any:
    return orjson.loads(memoryview(data)[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in binary form, because binary COPY (the fastest write path) needs it.
    await conn.set_type_codec(
        "jsonb",
        encoder=_encode_jsonb,
        decoder=_decode_jsonb,
        schema="pg_catalog",
        format="binary",
    )
    await conn.set_type_codec(
        "json",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


async def connect(dsn: str, **kwargs: Any) -> asyncpg.Connection:
    """One connection with the JSON codecs installed."""
    conn = await asyncpg.connect(dsn, **kwargs)
    await _init_connection(conn)
    return conn


async def close_pool(pool: asyncpg.Pool, timeout_s: float = 10.0) -> None:
    """Close gracefully, but never wait on a connection forever: terminate after `timeout_s`."""
    try:
        await asyncio.wait_for(pool.close(), timeout_s)
    except TimeoutError:
        pool.terminate()


class _Pool(asyncpg.Pool):
    """A pool whose `acquire` (and so `fetch`, `execute`, …) waits at most
    `acquire_timeout` for a connection, unless the caller passes its own timeout; with a
    `fallback`, a connection it cannot give (server down, timeout) comes from that pool."""

    def __init__(
        self,
        *args: Any,
        acquire_timeout: float | None,
        fallback: asyncpg.Pool | None = None,
        on_fallback: Callable[[BaseException], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout
        self.fallback = fallback
        self.on_fallback = on_fallback

    def acquire(self, *, timeout: float | None = None) -> Any:  # asyncpg's context type
        own = super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)
        if self.fallback is None:
            return own
        return _AcquireOrFallBack(own, self.fallback, timeout, self.on_fallback)


class _AcquireOrFallBack:
    """`async with`: a connection of the first pool, or of the fallback when the first pool
    cannot give one (a failure once connected is the caller's, as with any pool)."""

    def __init__(
        self,
        first: Any,
        fallback: asyncpg.Pool,
        timeout: float | None,
        on_fallback: Callable[[BaseException], None] | None,
    ) -> None:
        self._first = first
        self._fallback = fallback
        self._timeout = timeout
        self._on_fallback = on_fallback
        self._used: Any = None

    async def __aenter__(self) -> asyncpg.Connection:
        try:
            conn: asyncpg.Connection = await self._first.__aenter__()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if self._on_fallback is not None:
                self._on_fallback(exc)
        else:
            self._used = self._first
            return conn
        self._used = self._fallback.acquire(timeout=self._timeout)
        fallback_conn: asyncpg.Connection = await self._used.__aenter__()
        return fallback_conn

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._used.__aexit__(*exc_info)


async def keep_session(conn: asyncpg.Connection) -> None:
    """A pool `reset` that sends nothing: for pools whose users keep no session state."""
    # asyncpg's default reset is one more round trip per release (advisory unlock, CLOSE
    # ALL, UNLISTEN, RESET ALL); the pool still rolls back an open transaction before this.
    # The write path only runs transactions and SET LOCAL, so per batch that trip is waste.


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    connect_timeout_s: float = 60.0,
    statement_timeout_s: float | None = 60.0,
    acquire_timeout_s: float | None = None,
    fallback: asyncpg.Pool | None = None,
    on_fallback: Callable[[BaseException], None] | None = None,
    **kwargs: Any,
) -> asyncpg.Pool:
    """A pool whose connections carry the JSON codecs; callers close it. The timeouts bound
    connecting, each statement, and the wait for a pooled connection; a connection it cannot
    give comes from `fallback` when set (a replica's pool falls back to the primary's), and
    `on_fallback` hears why."""
    # asyncpg.create_pool takes no acquire timeout, so the pool is built as it builds it. The
    # acquire timeout also bounds the release of a connection whose statement timed out
    # (asyncpg waits for the cancellation), which a hung server would otherwise make endless.
    pool = _Pool(
        dsn,
        acquire_timeout=acquire_timeout_s,
        fallback=fallback,
        on_fallback=on_fallback,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        init=_init_connection,
        command_timeout=statement_timeout_s,
        timeout=connect_timeout_s,
        **kwargs,
    )
    await pool
    return pool
