"""What the benchmark scripts share: scratch databases, free ports, fast bulk loads."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import asyncpg


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` instead."""
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def secondary_indexes_dropped(conn: asyncpg.Connection, table: str) -> AsyncIterator[None]:
    """Bulk loads run without `table`'s secondary indexes; they are rebuilt afterwards."""
    indexes = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes "
        "WHERE tablename = $1 AND indexname NOT LIKE '%pkey'",
        table,
    )
    for index in indexes:
        await conn.execute(f'DROP INDEX "{index["indexname"]}"')
    yield
    print("  rebuilding indexes ...", flush=True)
    for index in indexes:
        await conn.execute(index["indexdef"])
