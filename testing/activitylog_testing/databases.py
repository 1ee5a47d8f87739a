"""Scratch databases: created next to an admin connection's database, migrated, dropped."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import asyncpg

from activitylog.runtime.migrate import migrate


def database_url(url: str, name: str) -> str:
    """`url` pointing at database `name` instead."""
    return urlsplit(url)._replace(path=f"/{name}").geturl()


async def create_database(admin_url: str, name: str, *, reuse: bool = False) -> bool:
    """Create database `name` on `admin_url`'s server and migrate it; with `reuse`, an
    existing one is migrated instead. True when this call created it."""
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not (exists and reuse):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        await migrate(database_url(admin_url, name))
    except BaseException:
        if not exists:
            await drop_database(admin_url, name)
        raise
    return not exists


async def drop_database(admin_url: str, name: str) -> None:
    """Drop database `name`, closing any connection still open on it."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def with_database(
    admin_url: str, name: str | None = None, *, keep: bool = False
) -> AsyncIterator[str]:
    """A migrated database for the block, as a URL: `name` (reused if it exists) or a fresh
    one. Dropped afterwards unless it was reused or `keep` is set."""
    name = name or f"activitylog_scratch_{uuid.uuid4().hex[:10]}"
    created = await create_database(admin_url, name, reuse=True)
    try:
        yield database_url(admin_url, name)
    finally:
        if created and not keep:
            await drop_database(admin_url, name)


@contextlib.asynccontextmanager
async def empty_database(admin_url: str, prefix: str) -> AsyncIterator[str]:
    """An empty database that is not ours to migrate (the portal's, n8n's), as a URL for
    the block; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield database_url(admin_url, name)
    finally:
        await drop_database(admin_url, name)
