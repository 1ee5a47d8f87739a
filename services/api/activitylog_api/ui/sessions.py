"""Server-side sessions for the admin UI, stored in PostgreSQL (only an id in the cookie).

Litestar's server-side backend writes a row for every response, even for visitors who never
logged in, and keeps the same id across a login. This backend stores only sessions that hold
something, writes only when the data changed, and gives a fresh id at login (no fixation).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.stores.base import Store
from litestar.types import Empty, Message, Scope, ScopeSession

from activitylog.storage import admin_sessions
from activitylog_api.state import services_from

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.connection import ASGIConnection

USER_KEY = "user_id"
_LOADED = "_admin_session_loaded"
_LOADED_ID = "_admin_session_id"


def _seconds(value: int | timedelta | None) -> int | None:
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    return value


class PostgresSessionStore(Store):
    """A Litestar store over the `admin_sessions` table; keys are stored as SHA-256."""

    __slots__ = ("_app",)

    def __init__(self, app: Litestar) -> None:
        self._app = app

    def _pool(self) -> asyncpg.Pool:
        # The pool is opened by the app's lifespan, after the store is made.
        return services_from(self._app.state).pool

    @staticmethod
    def _hash(key: str) -> bytes:
        return hashlib.sha256(key.encode()).digest()

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        data = value.encode() if isinstance(value, str) else value
        async with self._pool().acquire() as conn:
            await admin_sessions.put(conn, self._hash(key), data, _seconds(expires_in) or 86_400)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        async with self._pool().acquire() as conn:
            return await admin_sessions.get(conn, self._hash(key), _seconds(renew_for))

    async def delete(self, key: str) -> None:
        async with self._pool().acquire() as conn:
            await admin_sessions.delete(conn, self._hash(key))

    async def delete_all(self) -> None:
        async with self._pool().acquire() as conn:
            await admin_sessions.delete_all(conn)

    async def exists(self, key: str) -> bool:
        return await self.expires_in(key) is not None

    async def expires_in(self, key: str) -> int | None:
        async with self._pool().acquire() as conn:
            return await admin_sessions.seconds_left(conn, self._hash(key))

    async def delete_expired(self) -> int:
        async with self._pool().acquire() as conn:
            return await admin_sessions.delete_expired(conn)


class AdminSessionBackend(ServerSideSessionBackend):
    """Stores non-empty sessions only, writes on change, rotates the id when the user changes."""

    config: AdminSessionConfig

    async def load_from_connection(self, connection: ASGIConnection) -> dict[str, Any]:
        data = await super().load_from_connection(connection)
        state = connection.scope.setdefault("state", {})
        # A deep snapshot: handlers change nested values (flash lists) in place.
        state[_LOADED] = copy.deepcopy(data)
        if data:
            state[_LOADED_ID] = connection.cookies.get(self.config.key)
        return data

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection
    ) -> None:
        store = self.config.get_store_from_app(connection.scope["app"])
        headers = MutableScopeHeaders.from_message(message)
        cookie_params = {
            "path": self.config.path,
            "domain": self.config.domain,
            "secure": self.config.secure,
            "httponly": self.config.httponly,
            "samesite": self.config.samesite,
        }
        loaded: dict[str, Any] = connection.scope.get("state", {}).get(_LOADED) or {}
        cookie_id = connection.cookies.get(self.config.key)
        if cookie_id == "null":
            cookie_id = None
        if scope_session is Empty or not scope_session:
            if cookie_id:
                await self.delete(cookie_id, store=store)
                headers.add(
                    "Set-Cookie",
                    Cookie(key=self.config.key, value="null", expires=0, **cookie_params).to_header(
                        header=""
                    ),
                )
            return
        session_id = cookie_id
        if not session_id or loaded.get(USER_KEY) != scope_session.get(USER_KEY):
            if session_id:
                await self.delete(session_id, store=store)
            session_id = self.generate_session_id()
        if session_id != cookie_id or loaded != scope_session:
            await self.set(session_id, self.serialize_data(scope_session, connection.scope), store)
        headers.add(
            "Set-Cookie",
            Cookie(
                key=self.config.key, value=session_id, max_age=self.config.max_age, **cookie_params
            ).to_header(header=""),
        )


def signed_in_session_id(scope: Scope) -> str | None:
    """The id of the session the request came with, if that session is signed in."""
    state = scope.get("state", {})
    loaded: dict[str, Any] = state.get(_LOADED) or {}
    return state.get(_LOADED_ID) if isinstance(loaded.get(USER_KEY), int) else None


@dataclass
class AdminSessionConfig(ServerSideSessionConfig):
    """Session settings of the admin UI, with its PostgreSQL store."""

    _backend_class = AdminSessionBackend
    _stores: dict[int, PostgresSessionStore] = field(default_factory=dict, repr=False)

    def get_store_from_app(self, app: Litestar) -> Store:
        store = self._stores.get(id(app))
        if store is None:
            store = self._stores[id(app)] = PostgresSessionStore(app)
        return store
