"""Who is signed in: the session guard of every admin page, flash messages, the page context."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from activitylog.storage import admin_users
from activitylog_api.auth import ADMIN_LOGIN_PATH as LOGIN_PATH
from activitylog_api.auth import SESSION_GUARD_MARK
from activitylog_api.state import services_from
from activitylog_api.ui.sessions import USER_KEY

EMAIL_STATE_KEY = "admin_email"
ZONE_STATE_KEY = "admin_time_zone"
_FLASH_KEY = "flash"


class LoginRequired(Exception):
    """No valid session: the UI's exception handler redirects to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def login_url(next_url: str | None = None) -> str:
    if not next_url or next_url == "/admin":
        return LOGIN_PATH
    return f"{LOGIN_PATH}?next={quote(next_url, safe='/')}"


def safe_next(value: str | None) -> str:
    """Only a path inside the admin UI: never an open redirect to another site."""
    if value and value.startswith("/admin") and not value.startswith(("//", LOGIN_PATH)):
        return value
    return "/admin"


class SessionGuard:
    """Admits a request whose session names an enabled admin user; else LoginRequired."""

    def __init__(self) -> None:
        setattr(self, SESSION_GUARD_MARK, True)

    def __repr__(self) -> str:
        return "SessionGuard()"

    async def __call__(
        self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
    ) -> None:
        user_id = connection.session.get(USER_KEY) if connection.scope.get("session") else None
        target = connection.url.path + (f"?{connection.url.query}" if connection.url.query else "")
        if not isinstance(user_id, int):
            raise LoginRequired(target)
        # Checked on every request so that disabling an account takes effect at once.
        pool = services_from(connection.app.state).pool
        async with pool.acquire() as conn:
            user = await admin_users.by_id(conn, user_id)
        if user is None or user.disabled:
            connection.scope["session"] = {}
            raise LoginRequired(target)
        connection.scope["state"][EMAIL_STATE_KEY] = user.email
        connection.scope["state"][ZONE_STATE_KEY] = user.time_zone


SESSION = SessionGuard()


def flash(request: Request[Any, Any, Any], kind: str, text: str) -> None:
    """A message shown once on the next page (kind: success, error, info, warning)."""
    request.session.setdefault(_FLASH_KEY, []).append([kind, text])


def page_context(request: Request[Any, Any, Any], active: str, **values: Any) -> dict[str, Any]:
    """What base.html needs, plus the page's own values."""
    flashes: list[list[str]] = []
    if request.scope.get("session") and _FLASH_KEY in request.session:
        flashes = request.session.pop(_FLASH_KEY)
    context: dict[str, Any] = {
        "user_email": request.scope["state"].get(EMAIL_STATE_KEY),
        "user_zone": user_zone(request),
        "active": active,
        "banner": None,
        "flashes": flashes,
        "now": datetime.now(UTC),
    }
    context.update(values)
    return context


def user_zone(request: Request[Any, Any, Any]) -> str:
    """The signed-in admin's time zone (UTC until they choose one)."""
    return str(request.scope["state"].get(ZONE_STATE_KEY) or "UTC")


def wants_partial(request: Request[Any, Any, Any]) -> bool:
    """The page's JavaScript asks for just the part it replaces."""
    return request.headers.get("x-partial") == "1"
