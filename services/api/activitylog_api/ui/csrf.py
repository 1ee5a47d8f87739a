"""CSRF protection of the admin UI: every form's token is bound to the session it is sent in.

A signed-in session's token is an HMAC of its session id; before sign-in (the login form)
it is an HMAC of a random pre-login id kept in a signed cookie. A token taken from another
session, or from before sign-in, is refused (403) in a signed-in session.

The HMAC key is the secret kept in PostgreSQL: every replica reads the same one (made by
the first that needs it), so a token issued by one is accepted by another and survives
restarts; it is loaded on first use, not at start, so the api starts even while the
database is away.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import RequestEncodingType
from litestar.exceptions import PermissionDeniedException
from litestar.middleware import DefineMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from activitylog.storage import ui_secrets
from activitylog_api.state import services_from
from activitylog_api.ui.sessions import signed_in_session_id

_SECRET_NAME = "csrf"  # noqa: S105 - the row name, not the secret
COOKIE_NAME = "activitylog_csrf"
HEADER_NAME = "x-csrftoken"
FORM_FIELD = "_csrf_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ID_LENGTH = 64  # hex characters of the random pre-login id


def _mac(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def session_token(secret: str, session_id: str) -> str:
    """The token of every form of a signed-in session."""
    return _mac(secret, f"session:{session_id}")


def pre_login_token(secret: str, pre_login_id: str) -> str:
    """The token of the forms shown before sign-in, for the browser holding `pre_login_id`."""
    return _mac(secret, f"pre-login:{pre_login_id}")


def _pre_login_id(secret: str, cookie: str | None) -> str | None:
    """The id in a pre-login cookie, if the cookie was signed with this secret."""
    if not cookie or len(cookie) <= _ID_LENGTH:
        return None
    value, signature = cookie[:_ID_LENGTH], cookie[_ID_LENGTH:]
    # A cookie signed with another secret (a restored or reset database) is replaced.
    return value if hmac.compare_digest(signature, _mac(secret, f"cookie:{value}")) else None


def _new_pre_login_cookie(secret: str) -> tuple[str, str]:
    value = secrets.token_hex(_ID_LENGTH // 2)
    return value, value + _mac(secret, f"cookie:{value}")


@dataclass(frozen=True, slots=True)
class CsrfCookie:
    secure: bool
    path: str = "/admin"


class SessionBoundCsrf:
    """Checks the token of every unsafe request against the session it comes with."""

    def __init__(self, app: ASGIApp, cookie: CsrfCookie) -> None:
        self.app = app
        self.cookie = cookie
        self._secret = ""
        self._lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secret = await self._load_secret(scope)
        request: Request[Any, Any, Any] = scope["litestar_app"].request_class(
            scope=scope, receive=receive
        )
        pre_login = _pre_login_id(secret, request.cookies.get(COOKIE_NAME))
        session_id = signed_in_session_id(scope)
        state = ScopeState.from_scope(scope)

        if scope["method"] in _SAFE_METHODS:
            new_cookie = None
            if pre_login is None:
                pre_login, new_cookie = _new_pre_login_cookie(secret)
            state.csrf_token = (
                session_token(secret, session_id)
                if session_id is not None
                else pre_login_token(secret, pre_login)
            )
            await self.app(scope, receive, self._setting_cookie(send, new_cookie))
            return

        if session_id is not None:
            expected: str | None = session_token(secret, session_id)
        elif pre_login is not None:
            expected = pre_login_token(secret, pre_login)
        else:
            expected = None
        sent = request.headers.get(HEADER_NAME)
        content_type, _ = request.content_type
        if not sent and content_type in {
            RequestEncodingType.URL_ENCODED,
            RequestEncodingType.MULTI_PART,
        }:
            sent = (await request.form()).get(FORM_FIELD)
        if expected is None or not isinstance(sent, str):
            raise PermissionDeniedException("CSRF token verification failed")
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            raise PermissionDeniedException("CSRF token verification failed")
        state.csrf_token = expected
        await self.app(scope, receive, send)

    async def _load_secret(self, scope: Scope) -> str:
        if not self._secret:
            async with self._lock:
                if not self._secret:
                    pool = services_from(scope["litestar_app"].state).pool
                    async with pool.acquire() as conn:
                        self._secret = await ui_secrets.get_or_create(
                            conn, _SECRET_NAME, secrets.token_hex(32)
                        )
        return self._secret

    def _setting_cookie(self, send: Send, value: str | None) -> Send:
        if value is None:
            return send
        cookie = Cookie(
            key=COOKIE_NAME,
            value=value,
            path=self.cookie.path,
            secure=self.cookie.secure,
            httponly=True,
            samesite="lax",
        )

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableScopeHeaders.from_message(message)
                headers.add("set-cookie", cookie.to_header(header=""))
            await send(message)

        return wrapped


def csrf_middleware(secure_cookie: bool) -> DefineMiddleware:
    """The middleware for the admin router (the API's key-authenticated routes are outside it).

    It must come after the session middleware, whose session it binds the tokens to.
    """
    return DefineMiddleware(SessionBoundCsrf, cookie=CsrfCookie(secure=secure_cookie))
