"""A consumer name unique among live replicas and stable across a replica's restarts.

The base name is the host name (a compose replica keeps it across restarts), so a
restarted worker finds its own pending entries. A lease in Redis makes a second live
process with the same base take the next free suffix instead of sharing the first one's
pending list. The lease is short, renewed while its process lives, and names its holder
(host, pid, process start time): a name held by a process of this host that is gone is
taken over at once; a holder that cannot be checked from here (another host, another
container) keeps the name only as long as it renews the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import secrets
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

from activitylog.runtime.cancellation import reraise_if_cancelling
from activitylog.runtime.logs import get_logger
from activitylog.storage.stream import REDIS_OUTAGES

log = get_logger("activitylog.lease")

_RELEASE_TIMEOUT_S = 2.0

# How often a holder that cannot be checked is looked at while waiting for its lease to lapse.
_POLL_S = 0.1
# Redis expires a key within a millisecond or so of its time; a little slack beyond that.
_EXPIRY_SLACK_S = 0.2

# Renew our own lease; if it lapsed (Redis restarted, or we stalled) and is free, take it back.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return 1
end
return 0
"""
# Replace a dead holder's lease, only if it is still that holder's (two starters race).
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
    return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class Holder(enum.Enum):
    """What can be told about the process named in a lease."""

    ALIVE = "alive"
    GONE = "gone"
    UNKNOWN = "unknown"  # on another host or in another pid namespace


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


# Pids can be checked only against processes of the same kernel boot and pid namespace.
_HOST = {
    "host": socket.gethostname(),
    "boot": _read("/proc/sys/kernel/random/boot_id"),
    "pidns": _pid_namespace(),
}
_HAS_PROC = Path("/proc/self/stat").exists()


def process_start(pid: int) -> str | None:
    """When `pid` started (clock ticks since boot); None if it is not running or a zombie."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat.rpartition(")")[2].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return fields[19]  # field 22 of proc(5)


def _running(pid: int, start: str | None) -> bool:
    if _HAS_PROC:
        now = process_start(pid)
        # The same pid with another start time is a new process that reused the number.
        return now is not None and (start is None or now == start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def holder_value(pid: int | None = None) -> bytes:
    """The lease value naming this process (or `pid` on this host), unique to each lease."""
    pid = os.getpid() if pid is None else pid
    start = process_start(pid) if _HAS_PROC else None
    return orjson.dumps({**_HOST, "pid": pid, "start": start, "token": secrets.token_hex(8)})


def holder_state(value: bytes) -> Holder:
    """Whether the process named by a lease value is alive, gone, or cannot be told from here."""
    try:
        holder = orjson.loads(value)
        same_host = all(holder[k] == v for k, v in _HOST.items())
        pid = int(holder["pid"])
        start = holder.get("start")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return Holder.UNKNOWN  # not ours to interpret (an older release's lease)
    if not same_host or pid <= 0 or not _HOST["host"]:
        return Holder.UNKNOWN
    return Holder.ALIVE if _running(pid, start) else Holder.GONE


class ConsumerLease:
    """Holds `<stream>:consumer-lease:<name>` while the worker runs, renewing it."""

    def __init__(self, redis: aioredis.Redis, stream: str, base: str, ttl_s: float) -> None:
        self.redis = redis
        self.prefix = f"{stream}:consumer-lease:"
        self.base = base
        self.ttl_s = ttl_s
        self.name = base
        self._ttl_ms = max(int(ttl_s * 1000), 1)
        self._value = holder_value()
        self._held = False
        self._task: asyncio.Task[None] | None = None
        self._renew = redis.register_script(_RENEW)
        self._take_over = redis.register_script(_TAKE_OVER)
        self._release = redis.register_script(_RELEASE)

    async def acquire(self, max_suffix: int = 1000) -> str:
        """The first name (`base`, `base-2`, …) no live process holds; held until release."""
        for n in range(1, max_suffix + 1):
            name = self.base if n == 1 else f"{self.base}-{n}"
            if await self._claim(self.prefix + name, name):
                self.name, self._held = name, True
                self._task = asyncio.create_task(self._keep(), name=f"lease-{name}")
                return name
        raise RuntimeError(f"no free consumer name for {self.base!r} (tried {max_suffix})")

    async def _claim(self, key: str, name: str) -> bool:
        """Take `key` if free or if its holder is gone; False while a live process holds it."""
        watched: bytes | None = None
        lapse_at = 0.0
        while True:
            if await self.redis.set(key, self._value, nx=True, px=self._ttl_ms):
                return True
            current = await self.redis.get(key)
            if current is None:
                continue  # expired between the two calls
            state = holder_state(current)
            if state is Holder.ALIVE:
                return False
            if state is Holder.GONE:
                if await self._take_over(keys=[key], args=[current, self._value, self._ttl_ms]):
                    log.info(
                        "consumer name taken over from a process that is gone",
                        consumer=name,
                        previous=current.decode(errors="replace"),
                    )
                    return True
                continue  # another starter was quicker: look at the new holder
            # Cannot be checked from here: alive only if it renews the lease before it lapses.
            if current != watched:
                watched = current
                left_ms = await self.redis.pttl(key)
                lapse_at = time.monotonic() + max(left_ms, 0) / 1000 + _EXPIRY_SLACK_S
            elif time.monotonic() >= lapse_at:
                return False
            await asyncio.sleep(_POLL_S)

    async def _keep(self) -> None:
        key = self.prefix + self.name
        while True:
            # A cancel can be lost inside the client (3.11's wait_for returns a result that
            # completed as the cancel landed), so the loop looks for one that is pending.
            reraise_if_cancelling()
            await asyncio.sleep(self.ttl_s / 3)
            try:
                if not await self._renew(keys=[key], args=[self._value, self._ttl_ms]):
                    log.warning("consumer lease taken by another process", consumer=self.name)
            except (aioredis.RedisError, *REDIS_OUTAGES) as exc:
                reraise_if_cancelling()
                log.warning("could not renew consumer lease", error=repr(exc))

    async def release(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # Bounded too: the renewal must not hold up the exit, whatever it is waiting on.
            await asyncio.wait({self._task}, timeout=_RELEASE_TIMEOUT_S)
        if self._held:
            self._held = False
            # Bounded: an unanswered release only leaves a lease that lapses within its TTL,
            # while waiting on it would hold up the process's exit.
            with contextlib.suppress(aioredis.RedisError, OSError, TimeoutError):
                async with asyncio.timeout(_RELEASE_TIMEOUT_S):
                    await self._release(keys=[self.prefix + self.name], args=[self._value])


# The shard leases of one stream, in one hash (one key, so one script sees and changes them
# all, on one cluster slot): `m:<worker>` → expiry (ms), `s:<shard>` → `<worker>|<expiry>`.
# The script renews the caller's membership and leases, drops what has lapsed, applies the
# caller's `take:k`/`drop:k` (a take only of a free shard) and returns what is left.
_SHARDS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local name, ttl = ARGV[1], tonumber(ARGV[2])
local till = now + ttl
local mine = name .. '|' .. till
redis.call('HSET', KEYS[1], 'm:' .. name, till)
local all = redis.call('HGETALL', KEYS[1])
local state = {}
for i = 1, #all, 2 do
  if tonumber(string.match(all[i + 1], '(%d+)$')) < now then
    redis.call('HDEL', KEYS[1], all[i])
  else
    state[all[i]] = all[i + 1]
  end
end
for f, v in pairs(state) do
  if string.sub(f, 1, 2) == 's:' and string.match(v, '^(.*)|%d+$') == name then
    state[f] = mine
  end
end
for i = 3, #ARGV do
  local op, k = string.match(ARGV[i], '^(%a+):(%d+)$')
  local f = 's:' .. k
  local holder = state[f] and string.match(state[f], '^(.*)|%d+$')
  if op == 'take' and (holder == nil or holder == name) then
    state[f] = mine
  elseif op == 'drop' and holder == name then
    state[f] = nil
    redis.call('HDEL', KEYS[1], f)
  end
end
local out = {}
for f, v in pairs(state) do
  if string.sub(f, 1, 2) == 's:' and string.match(v, '^(.*)|%d+$') == name then
    redis.call('HSET', KEYS[1], f, v)
  end
  out[#out + 1] = f
  out[#out + 1] = v
end
redis.call('PEXPIRE', KEYS[1], ttl * 10)
return out
"""


@dataclass(frozen=True, slots=True)
class ShardState:
    """The live workers and the live holder of each leased shard, as the script left them."""

    members: frozenset[str]
    holders: dict[int, str]


class ShardLeases:
    """`<stream>:shard-leases`: which live worker consumes which shard (domain.shard_plan)."""

    def __init__(
        self, redis: aioredis.Redis, stream: str, name: str, shards: int, ttl_s: float
    ) -> None:
        self.key = f"{stream}:shard-leases"
        self.name = name
        self.shards = shards
        self.ttl_s = ttl_s
        self._ttl_ms = max(int(ttl_s * 1000), 1)
        self._redis = redis
        self._script = redis.register_script(_SHARDS)

    async def step(self, take: Iterable[int] = (), drop: Iterable[int] = ()) -> ShardState:
        """Renew this worker and its leases, give up `drop`, take `take` where free."""
        ops = [f"drop:{k}" for k in drop] + [f"take:{k}" for k in take]
        return _state(await self._script(keys=[self.key], args=[self.name, self._ttl_ms, *ops]))

    async def view(self) -> ShardState:
        """The leases as they stand, read only (health, tests): lapsed ones may show."""
        return _state(_flat(await self._redis.hgetall(self.key)))

    def held(self, state: ShardState) -> frozenset[int]:
        return frozenset(k for k, holder in state.holders.items() if holder == self.name)

    async def leave(self) -> None:
        """Give up every lease and the membership (bounded: an unanswered one lapses)."""
        with contextlib.suppress(aioredis.RedisError, TimeoutError, *REDIS_OUTAGES):
            async with asyncio.timeout(_RELEASE_TIMEOUT_S):
                await self._script(
                    keys=[self.key],
                    args=[self.name, 1, *(f"drop:{k}" for k in range(self.shards))],
                )


def _flat(mapping: dict[Any, Any]) -> list[Any]:
    return [item for pair in mapping.items() for item in pair]


def _state(reply: list[Any]) -> ShardState:
    members: set[str] = set()
    holders: dict[int, str] = {}
    for field, value in zip(reply[::2], reply[1::2], strict=True):
        kind, _, rest = _text(field).partition(":")
        if kind == "m":
            members.add(rest)
        elif kind == "s":
            holders[int(rest)] = _text(value).rpartition("|")[0]
    return ShardState(frozenset(members), holders)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
