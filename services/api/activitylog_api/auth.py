"""API keys: generating and hashing them, verifying with a short cache, the route guard."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from activitylog.access.keys import Role, hash_key
from activitylog.runtime.db import is_transient
from activitylog.runtime.logs import get_logger
from activitylog.storage import api_keys
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
    """PostgreSQL could not be asked about a key we have not seen recently."""


class KeyVerifier:
    """Checks keys against PostgreSQL and trusts each answer for `ttl_s` seconds."""

    # An expired answer is still used while one background lookup per key refreshes it:
    # requests never queue behind the database for a key seen before, and a known key keeps
    # working while PostgreSQL is away (events still reach the stream). Revocation takes
    # effect within `ttl_s` plus one lookup.

    def __init__(self, pool: asyncpg.Pool, *, ttl_s: float, timeout_s: float) -> None:
        self._pool = pool
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}
        self._lookups: dict[bytes, asyncio.Task[Principal | None]] = {}

    async def verify(self, key: str) -> Principal | None:
        digest = hash_key(key)
        cached = self._cache.get(digest)
        if cached is None:
            return await asyncio.shield(self._lookup(digest))
        if time.monotonic() - cached[0] >= self._ttl_s:
            self._lookup(digest)
        return cached[1]

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
            if digest in self._cache:
                log.warning("API key check failed; using the last answer", error=repr(exc))
                return self._cache[digest][1]
            raise KeyStoreUnavailable(str(exc) or type(exc).__name__) from exc
        principal = (
            Principal(row.id, row.name, Role(row.role), row.client_id) if row is not None else None
        )
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        self._cache[digest] = (time.monotonic(), principal)
        return principal


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
