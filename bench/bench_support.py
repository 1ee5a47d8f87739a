"""What the benchmark scripts share: scratch databases, COPY-ready jsonb, free ports."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import asyncpg
import orjson


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` instead."""
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def binary_jsonb(conn: asyncpg.Connection) -> None:
    """COPY speaks binary; jsonb's binary form is a version byte and the JSON text."""
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: b"\x01" + (v.encode() if isinstance(v, str) else orjson.dumps(v)),
        decoder=lambda b: orjson.loads(b[1:]),
        schema="pg_catalog",
        format="binary",
    )
