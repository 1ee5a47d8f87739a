"""Litestar's CSRF protection for the admin UI, signed with the secret kept in PostgreSQL.

Every replica reads the same secret (made by the first one that needs it), so a token
issued by one is accepted by another and survives restarts; it is loaded on first use, not
at start, so the api starts even while the database is away.
"""

from __future__ import annotations

import asyncio
import secrets

from litestar.config.csrf import CSRFConfig
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from activitylog.storage import ui_secrets
from activitylog_api.state import services_from

_SECRET_NAME = "csrf"  # noqa: S105 - the row name, not the secret


class DatabaseKeyedCsrf(CSRFMiddleware):
    """CSRFMiddleware whose secret comes from the `ui_secrets` table."""

    def __init__(self, app: ASGIApp, config: CSRFConfig) -> None:
        super().__init__(app, config)
        self._lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.config.secret and scope["type"] == "http":
            async with self._lock:
                if not self.config.secret:
                    self.config.secret = await _load_secret(scope)
        if scope["type"] == "http" and scope["method"] in self.config.safe_methods:
            # The parsed cookies are cached in the scope, so this is what Litestar reads next.
            cookies = scope["litestar_app"].request_class(scope=scope).cookies
            stale = cookies.get(self.config.cookie_name)
            if stale is not None and self._decode_csrf_token(stale) is None:
                # Signed with another secret (a restored or reset database): Litestar would
                # keep it forever and every form would fail; a new one is issued instead.
                cookies.pop(self.config.cookie_name)
        await super().__call__(scope, receive, send)


async def _load_secret(scope: Scope) -> str:
    pool = services_from(scope["litestar_app"].state).pool
    async with pool.acquire() as conn:
        return await ui_secrets.get_or_create(conn, _SECRET_NAME, secrets.token_hex(32))


def csrf_middleware(secure_cookie: bool) -> DefineMiddleware:
    """The middleware for the admin router (the API's key-authenticated routes are outside it)."""
    config = CSRFConfig(
        secret="",
        cookie_name="activitylog_csrf",
        cookie_path="/admin",
        cookie_secure=secure_cookie,
        cookie_httponly=True,
        cookie_samesite="lax",
    )
    return DefineMiddleware(DatabaseKeyedCsrf, config=config)
