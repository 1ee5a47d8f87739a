"""`activitylog keys create|list|revoke`: API keys for n8n, the portal and operators."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import click
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from activitylog.runtime.db import connect
from activitylog.runtime.settings import get_settings
from activitylog.storage import api_keys
from activitylog.storage.stream import redis_client
from activitylog.use_cases.access import key_copies
from activitylog.use_cases.access.keys import Role, generate_key, hash_key, key_prefix
from activitylog_cli.support import database_url


async def _in_redis(
    what: str, write: Callable[[aioredis.Redis, str, float], Awaitable[None]]
) -> bool:
    """Update the keys' copies in Redis (README, "API"); False, with a warning, if unreachable."""
    settings = get_settings()
    if not settings.redis_url or settings.api_key_offline_s <= 0:
        return True
    client = redis_client(settings.redis_url, socket_timeout=5)
    try:
        await write(client, settings.activity_stream, settings.api_key_offline_s)
    except (RedisError, OSError) as exc:
        click.echo(f"warning: Redis unreachable ({exc}); {what}", err=True)
        return False
    finally:
        await client.aclose()
    return True


@click.group()
def keys() -> None:
    """Create, list and revoke API keys (stored only as SHA-256 hashes)."""


@keys.command("create")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--client", "client_id", type=click.UUID, help="the client a portal key reads")
@click.option("--name", required=True, help="who uses the key, e.g. n8n-production")
def create(role: str, client_id: uuid.UUID | None, name: str) -> None:
    """Create a key and print it once, alone on the last line."""
    if role == Role.PORTAL and client_id is None:
        raise click.UsageError("a portal key needs --client (the client whose leads it reads)")
    if role != Role.PORTAL and client_id is not None:
        raise click.UsageError("--client applies to portal keys only")
    key = generate_key()

    async def run() -> api_keys.ApiKeyRow:
        conn = await connect(database_url())
        try:
            row = await api_keys.create(
                conn,
                name=name,
                role=role,
                client_id=client_id,
                key_hash=hash_key(key),
                key_prefix=key_prefix(key),
            )
        finally:
            await conn.close()
        copy = key_copies.KeyCopy(row.id, row.name, row.role, row.client_id)
        await _in_redis(
            "the key works once an api has checked it against PostgreSQL",
            lambda client, stream, ttl: key_copies.remember(
                client, stream, hash_key(key), copy, ttl
            ),
        )
        return row

    row = asyncio.run(run())
    scope = f" for client {row.client_id}" if row.client_id else ""
    click.echo(f"created {row.role} key {row.id} ({row.name}){scope}")
    click.echo("the key is shown only this once; store it now:")
    click.echo(key)


@keys.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="include revoked keys")
def list_keys(include_revoked: bool) -> None:
    """The keys (never the keys themselves: their prefix, role, client and use)."""

    async def run() -> list[api_keys.ApiKeyRow]:
        conn = await connect(database_url())
        try:
            return await api_keys.list_all(conn, include_revoked=include_revoked)
        finally:
            await conn.close()

    rows = asyncio.run(run())
    if not rows:
        click.echo("no keys")
        return
    header = ("id", "name", "role", "client", "prefix", "created", "last used", "revoked")
    lines = [header] + [
        (
            str(r.id),
            r.name,
            r.role,
            str(r.client_id or "-"),
            r.key_prefix + "…",
            f"{r.created_at:%Y-%m-%d %H:%M}",
            f"{r.last_used_at:%Y-%m-%d %H:%M}" if r.last_used_at else "never",
            f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "-",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


@keys.command("revoke")
@click.argument("reference")
def revoke(reference: str) -> None:
    """Revoke the active key whose id, name or prefix is REFERENCE."""

    async def run() -> list[api_keys.ApiKeyRow]:
        conn = await connect(database_url())
        try:
            async with conn.transaction():
                found = await api_keys.find_active(conn, reference)
                if len(found) != 1:
                    return found
                revoked = await api_keys.revoke(conn, found[0].id)
                digest = await api_keys.key_hash_of(conn, found[0].id)
        finally:
            await conn.close()
        if digest is not None:
            await _in_redis(
                "the key is revoked in PostgreSQL; should PostgreSQL go down before every api "
                "has checked it again (API_KEY_CACHE_S), an api may accept it from its copy in "
                "Redis until API_KEY_OFFLINE_S after its last use",
                lambda client, stream, ttl: key_copies.revoke(client, stream, digest, ttl),
            )
        return [revoked] if revoked else []

    found = asyncio.run(run())
    if not found:
        raise click.ClickException(f"no active key has the id, name or prefix {reference!r}")
    if found[0].revoked_at is None:
        names = ", ".join(f"{r.id} ({r.name})" for r in found)
        raise click.ClickException(f"{len(found)} active keys match {reference!r}: {names}")
    row = found[0]
    click.echo(
        f"revoked {row.role} key {row.id} ({row.name}) at {row.revoked_at:%Y-%m-%d %H:%M:%S}"
    )
