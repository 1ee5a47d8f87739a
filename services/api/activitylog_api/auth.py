"""API keys: generating and hashing them, verifying with a short cache, the route guard."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from redis.exceptions import RedisError

from activitylog.runtime.db import is_transient
from activitylog.runtime.logs import get_logger
from activitylog.storage import api_keys
from activitylog.use_cases.access import key_copies
from activitylog.use_cases.access.keys import Role, hash_key
from activitylog_api.errors import BackendUnavailable

KEY_HEADER = "x-api-key"
PRINCIPAL_STATE_KEY = "api_principal"
# An attribute a session guard (the admin UI's) sets to True to count as authentication.
SESSION_GUARD_MARK = "activitylog_session_guard"

# The admin UI's sign-in form and its assets (its other pages declare a session guard
# marked with SESSION_GUARD_MARK, which `is_auth_guard` accepts).
ADMIN_LOGIN_PATH = "/admin/login"
ADMIN_STATIC_PATH = "/admin/static"
# Every route declares a guard except these.
PUBLIC_PATHS = frozenset(
    {
        "/health/live",
        "/health/ready",
        "/metrics",
        "/api/internal/activity-health",
        ADMIN_LOGIN_PATH,
        # The stream's AsyncAPI document and its page (routes/asyncapi.py), like /schema.
        "/asyncapi",
        "/asyncapi.json",
        "/asyncapi.yaml",
    }
)
PUBLIC_PREFIXES = frozenset({"/schema", ADMIN_STATIC_PATH})

log = get_logger("activitylog.api.auth")

# Unknown keys are cached too (so random keys cannot hammer the database); bound the cache.
_MAX_CACHED = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, name, role and (portal keys) client."""

    key_id: uuid.UUID
    name: str
    role: Role
    client_id: uuid.UUID | None


class KeyStoreUnavailable(RuntimeError):
    """Neither PostgreSQL nor the copies in Redis can tell about a key we have not seen."""


@dataclass(slots=True)
class _Answer:
    checked_at: float  # monotonic time of the last look-up (PostgreSQL, else Redis)
    verified_at: float  # monotonic time PostgreSQL last answered for this key
    principal: Principal | None


class KeyVerifier:
    """Checks keys against PostgreSQL and trusts each answer for `ttl_s` seconds; while
    PostgreSQL is down, against the copies of verified keys in Redis (`key_copies`)."""

    # An expired answer is still used while one background lookup per key refreshes it:
    # requests never queue behind the database for a key seen before. Each answer from
    # PostgreSQL renews the key's copy in Redis (or marks it revoked), so a replica started
    # during a PostgreSQL outage admits the keys verified within `offline_s`. Revocation
    # takes effect within `ttl_s` plus one lookup wherever PostgreSQL or Redis answers.

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        ttl_s: float,
        timeout_s: float,
        redis: aioredis.Redis | None = None,
        stream: str = "",
        offline_s: float = 0.0,
    ) -> None:
        self._pool = pool
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._redis = redis if offline_s > 0 else None
        self._stream = stream
        self._offline_s = offline_s
        self._cache: dict[bytes, _Answer] = {}
        self._lookups: dict[bytes, asyncio.Task[Principal | None]] = {}

    async def verify(self, key: str) -> Principal | None:
        digest = hash_key(key)
        cached = self._cache.get(digest)
        if cached is None:
            return await asyncio.shield(self._lookup(digest))
        if time.monotonic() - cached.checked_at >= self._ttl_s:
            self._lookup(digest)
        return cached.principal

    def _lookup(self, digest: bytes) -> asyncio.Task[Principal | None]:
        """The one lookup in flight for this key (started if there is none)."""
        task = self._lookups.get(digest)
        if task is None:
            task = asyncio.create_task(self._fetch(digest))
            self._lookups[digest] = task
            task.add_done_callback(functools.partial(self._finished, digest))
        return task

    def _finished(self, digest: bytes, task: asyncio.Task[Principal | None]) -> None:
        self._lookups.pop(digest, None)
        # Retrieve the outcome so a failed background refresh is logged, not left unseen.
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("API key lookup failed", error=repr(exc))

    async def close(self) -> None:
        """Cancel lookups in flight (the app is stopping)."""
        for task in list(self._lookups.values()):
            task.cancel()
        await asyncio.gather(*self._lookups.values(), return_exceptions=True)

    async def _fetch(self, digest: bytes) -> Principal | None:
        try:
            async with asyncio.timeout(self._timeout_s), self._pool.acquire() as conn:
                row = await api_keys.verify_and_touch(conn, digest)
        except Exception as exc:
            if not (isinstance(exc, TimeoutError) or is_transient(exc)):
                raise
            return await self._offline(digest, exc)
        principal = (
            Principal(row.id, row.name, Role(row.role), row.client_id) if row is not None else None
        )
        now = time.monotonic()
        self._store(digest, _Answer(now, now, principal))
        await self._copy(digest, principal)
        return principal

    def _store(self, digest: bytes, answer: _Answer) -> None:
        if len(self._cache) >= _MAX_CACHED and digest not in self._cache:
            self._cache.clear()
        self._cache[digest] = answer

    async def _offline(self, digest: bytes, exc: BaseException) -> Principal | None:
        """PostgreSQL is unavailable: the key's copy in Redis, else our own last answer
        while it is younger than `offline_s`, else KeyStoreUnavailable."""
        now = time.monotonic()
        cached = self._cache.get(digest)
        copy = await self._read_copy(digest)
        if copy is not False:
            principal = (
                Principal(copy.key_id, copy.name, Role(copy.role), copy.client_id)
                if copy is not None
                else None
            )
            # The copy's own lifetime bounds it: this replica's memory of it adds none.
            verified_at = cached.verified_at if cached is not None else now - self._offline_s
            self._store(digest, _Answer(now, verified_at, principal))
            log.warning("API key checked against its copy in Redis", error=repr(exc))
            return principal
        if cached is not None and now - cached.verified_at < max(self._offline_s, self._ttl_s):
            log.warning("API key check failed; using the last answer", error=repr(exc))
            cached.checked_at = now
            return cached.principal
        # Too old to trust: the next request asks again (and is a 503 while nothing answers).
        self._cache.pop(digest, None)
        raise KeyStoreUnavailable(str(exc) or type(exc).__name__) from exc

    async def _read_copy(self, digest: bytes) -> key_copies.KeyCopy | bool | None:
        if self._redis is None:
            return False
        try:
            async with asyncio.timeout(self._timeout_s):
                return await key_copies.read(self._redis, self._stream, digest)
        except (RedisError, OSError, TimeoutError, ValueError) as exc:
            log.warning("API key copy unreadable", error=repr(exc))
            return False

    async def _copy(self, digest: bytes, principal: Principal | None) -> None:
        """Renew the key's copy in Redis (or mark it revoked); best effort."""
        if self._redis is None:
            return
        try:
            async with asyncio.timeout(self._timeout_s):
                if principal is None:
                    await key_copies.forget(self._redis, self._stream, digest, self._offline_s)
                else:
                    copy = key_copies.KeyCopy(
                        principal.key_id, principal.name, principal.role, principal.client_id
                    )
                    await key_copies.remember(
                        self._redis, self._stream, digest, copy, self._offline_s
                    )
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("API key copy not written", error=repr(exc))


class ApiKeyGuard:
    """Litestar guard: the request carries an active `x-api-key` whose role is allowed."""

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)

    def __repr__(self) -> str:
        return f"ApiKeyGuard({', '.join(sorted(self.roles))})"

    async def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], _: Any) -> None:
        key = connection.headers.get(KEY_HEADER)
        if not key:
            raise NotAuthorizedException(f"missing API key (header {KEY_HEADER})")
        verifier: KeyVerifier = connection.app.state.key_verifier
        try:
            principal = await verifier.verify(key)
        except KeyStoreUnavailable as exc:
            raise BackendUnavailable(
                "cannot verify the API key: the database is unavailable"
            ) from exc
        if principal is None:
            raise NotAuthorizedException("invalid or revoked API key")
        if principal.role not in self.roles:
            allowed = " or ".join(sorted(self.roles))
            raise PermissionDeniedException(
                f"this {principal.role} key may not use this route (needs {allowed})"
            )
        connection.scope["state"][PRINCIPAL_STATE_KEY] = principal


# The guards routes declare.
WRITE_EVENTS = ApiKeyGuard(Role.INGEST, Role.ADMIN)
READ_ACTIVITY = ApiKeyGuard(Role.PORTAL, Role.ADMIN)
WRITE_LEADS = ApiKeyGuard(Role.INGEST, Role.ADMIN)
ADMIN_ONLY = ApiKeyGuard(Role.ADMIN)


def principal_of(request: Request[Any, Any, Any]) -> Principal:
    """The caller an `ApiKeyGuard` admitted (dependency `principal`)."""
    return request.scope["state"][PRINCIPAL_STATE_KEY]  # type: ignore[no-any-return]


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or any(
        path == p or path.startswith(p.rstrip("/") + "/") for p in PUBLIC_PREFIXES
    )


def is_auth_guard(guard: Any) -> bool:
    """True for a guard that authenticates: an API-key guard or a marked session guard."""
    return isinstance(guard, ApiKeyGuard) or getattr(guard, SESSION_GUARD_MARK, False) is True


def unguarded_routes(handlers: list[tuple[str, BaseRouteHandler]]) -> list[str]:
    """The (path, handler) pairs that are neither public nor guarded by `is_auth_guard`."""
    return [
        f"{path} ({handler.handler_name})"
        for path, handler in handlers
        if not is_public(path) and not any(is_auth_guard(g) for g in handler.resolve_guards())
    ]
