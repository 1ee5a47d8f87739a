"""Idempotency-Key: a key names one request body; the same body again gets the first answer,
another body is a 409 naming the key (docs/CONTRACT.md §5).

The record of a key lives where its events went, for API_IDEMPOTENCY_TTL_S: in Redis,
written by the same script that puts the events on the stream (so a key is never recorded
without its events, nor its events published twice), or, when Redis was down and the API
stored the events itself, in PostgreSQL (`idempotency_keys`), in the transaction that
stored them. A record holds the body's hash, the answer's status and the time the events
were received: with the same body that is all the first answer needs to be given again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from activitylog.contract.stream_format import PAYLOAD_FIELD
from activitylog.storage.idempotency_keys import KeyRecord
from activitylog.storage.stream import check_replicated, queue_wait
from activitylog_api.errors import ApiError

# KEYS: the record, the stream; ARGV: the record's text, its lifetime (ms), the payloads.
_PUBLISH_ONCE = f"""
local earlier = redis.call('GET', KEYS[1])
if earlier then return earlier end
for i = 3, #ARGV do
  redis.call('XADD', KEYS[2], '*', '{PAYLOAD_FIELD.decode()}', ARGV[i])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""
_PUBLISH_ONCE_SHA = hashlib.sha1(_PUBLISH_ONCE.encode()).hexdigest()  # noqa: S324 - Redis's script id


@dataclass(frozen=True, slots=True)
class Claim:
    """A request's Idempotency-Key and the hash of its body (its JSON, keys sorted)."""

    key: str
    key_hash: bytes
    body_hash: bytes

    @classmethod
    def of(cls, key: str, body: Any) -> Claim:
        canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        return cls(
            key,
            hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest(),
            hashlib.sha256(canonical).digest()[:16],
        )

    def record(self, status: int, received_at: datetime) -> KeyRecord:
        return KeyRecord(self.body_hash, status, received_at)

    def conflict(self) -> ApiError:
        """409: the key was first used with another body (as Stripe answers)."""
        message = (
            f"Idempotency-Key {self.key!r} was already used with a different request body; "
            "a key names one request: send the same body again, or use a new key"
        )
        return ApiError(409, message, errors=[{"field": "Idempotency-Key", "message": message}])

    def check(self, earlier: KeyRecord) -> KeyRecord:
        """`earlier` when it was made with this body, else the 409."""
        if earlier.body_hash != self.body_hash:
            raise self.conflict()
        return earlier


def redis_key(stream: str, claim: Claim) -> str:
    return f"{stream}:idempotency:{claim.key_hash.hex()}"


def _text(record: KeyRecord) -> bytes:
    micros = round(record.received_at.timestamp() * 1_000_000)
    return f"{record.body_hash.hex()} {record.status} {micros}".encode()


def _parse(text: bytes) -> KeyRecord:
    body_hash, status, micros = text.decode().split(" ")
    received_at = datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC)
    return KeyRecord(bytes.fromhex(body_hash), int(status), received_at)


async def publish_once(
    client: aioredis.Redis,
    keys: Sequence[str],
    shards: Sequence[int],
    claim: Claim,
    record: KeyRecord,
    payloads: list[str],
    ttl_s: float,
    *,
    wait_replicas: int = 0,
    wait_timeout_ms: int = 500,
) -> KeyRecord | None:
    """XADD the payloads and record the key, in one step a shard; or, if the key is already
    recorded, publish nothing and return its record.

    `keys` are the stream's shard keys, `shards` each payload's. Each shard has its own
    record beside its key (one slot on a cluster), so a request cut off between shards
    publishes, when sent again, only on the shards it had not reached. With several shards
    the first body is also recorded on the key's home shard, so another body under the key
    is told apart wherever its events would go.
    """
    by_shard: dict[int, list[str]] = {}
    for shard, payload in zip(shards, payloads, strict=True):
        by_shard.setdefault(shard, []).append(payload)
    text, ttl_ms = _text(record), max(1, round(ttl_s * 1000))
    if len(keys) > 1:
        # A key's body is also recorded once, on a shard of the key's own: the next body
        # may go to shards the first did not reach, whose records know nothing of it.
        home = redis_key(keys[int.from_bytes(claim.key_hash[:4], "big") % len(keys)], claim)
        first = await client.set(f"{home}:body", text, nx=True, px=ttl_ms, get=True)
        if first is not None and (found_first := _parse(first)).body_hash != claim.body_hash:
            return found_first  # the caller's check answers 409
    found = await asyncio.gather(
        *(
            _publish_shard(
                client,
                keys[shard],
                claim,
                [text, ttl_ms, *shard_payloads],
                wait_replicas,
                wait_timeout_ms,
            )
            for shard, shard_payloads in by_shard.items()
        )
    )
    earlier = next((e for e in found if e is not None), None)
    return _parse(earlier) if earlier is not None else None


async def _publish_shard(
    client: aioredis.Redis,
    stream: str,
    claim: Claim,
    args: list[Any],
    wait_replicas: int,
    wait_timeout_ms: int,
) -> bytes | None:
    keys = [redis_key(stream, claim), stream]
    if not wait_replicas:
        try:
            return await client.evalsha(_PUBLISH_ONCE_SHA, len(keys), *keys, *args)  # type: ignore[no-any-return]
        except NoScriptError:
            return await client.eval(_PUBLISH_ONCE, len(keys), *keys, *args)  # type: ignore[no-any-return]
    # WAIT counts the writes of its own connection: the script and WAIT in one pipeline.
    async with client.pipeline(transaction=False) as pipe:
        pipe.eval(_PUBLISH_ONCE, len(keys), *keys, *args)
        queue_wait(client, pipe, stream, wait_replicas, wait_timeout_ms)
        earlier, acknowledged = await pipe.execute()
    check_replicated(acknowledged, wait_replicas)
    return earlier  # type: ignore[no-any-return]
