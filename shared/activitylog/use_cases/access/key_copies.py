"""Copies of verified API keys in Redis, so an API replica can check a key while PostgreSQL
is down (README, "API").

PostgreSQL stays the truth. Each time a replica verifies a key there (and when `activitylog
keys create` makes one) it writes the key's hash with its id, name, role and client to
Redis, to expire API_KEY_OFFLINE_S later; a replica that cannot reach PostgreSQL reads the
copy. A revocation (`activitylog keys revoke`, or a replica finding the key gone) replaces
the copy with a `revoked` mark that outlives any copy, and a copy is never written over
that mark, so a replica reading a stale answer cannot bring a revoked key back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

REVOKED = b"revoked"

# KEYS: the copy; ARGV: the copy's text, its lifetime (ms).
_REMEMBER = """
if redis.call('GET', KEYS[1]) == 'revoked' then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
# KEYS: the copy; ARGV: the mark's lifetime (ms). Only where a copy exists (so that random
# keys leave nothing behind).
_FORGET = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SET', KEYS[1], 'revoked', 'PX', ARGV[1])
end
return 1
"""


@dataclass(frozen=True, slots=True)
class KeyCopy:
    """What a replica needs to admit a key: its id, name, role and (portal keys) client."""

    key_id: uuid.UUID
    name: str
    role: str
    client_id: uuid.UUID | None


def copy_key(stream: str, key_hash: bytes) -> str:
    """The Redis key of a copy, beside the stream it guards."""
    return f"{stream}:api-key:{key_hash.hex()}"


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _text(copy: KeyCopy) -> bytes:
    return orjson.dumps(
        {
            "id": str(copy.key_id),
            "name": copy.name,
            "role": copy.role,
            "clientId": str(copy.client_id) if copy.client_id else None,
        }
    )


async def remember(
    client: aioredis.Redis, stream: str, key_hash: bytes, copy: KeyCopy, ttl_s: float
) -> None:
    """Write (or renew) the copy of an active key, unless it is marked revoked."""
    await client.eval(_REMEMBER, 1, copy_key(stream, key_hash), _text(copy), _ms(ttl_s))


async def forget(client: aioredis.Redis, stream: str, key_hash: bytes, ttl_s: float) -> None:
    """PostgreSQL says the key is not active: mark its copy revoked, if it has one."""
    await client.eval(_FORGET, 1, copy_key(stream, key_hash), _ms(ttl_s))


async def revoke(client: aioredis.Redis, stream: str, key_hash: bytes, ttl_s: float) -> None:
    """Mark the key revoked (`activitylog keys revoke`), copy or not."""
    await client.set(copy_key(stream, key_hash), REVOKED, px=_ms(ttl_s))


async def read(client: aioredis.Redis, stream: str, key_hash: bytes) -> KeyCopy | bool | None:
    """The copy; None when the key is marked revoked; False when there is no copy."""
    raw = await client.get(copy_key(stream, key_hash))
    if raw is None:
        return False
    if raw == REVOKED:
        return None
    data = orjson.loads(raw)
    client_id = data.get("clientId")
    return KeyCopy(
        uuid.UUID(data["id"]),
        str(data["name"]),
        str(data["role"]),
        uuid.UUID(client_id) if client_id else None,
    )
