"""Sign in and sign out of the admin UI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from activitylog.storage import admin_sessions, admin_users
from activitylog_api.state import ApiServices
from activitylog_api.ui import dashboard_cache
from activitylog_api.ui.accounts import sign_in
from activitylog_api.ui.guard import LOGIN_PATH, SESSION, safe_next
from activitylog_api.ui.sessions import USER_KEY

WRONG_CREDENTIALS = "Wrong email or password."
LOCKED = "Too many failed attempts: this account is locked for a few minutes. Try again later."


@dataclass
class LoginForm:
    email: str = ""
    password: str = ""
    next: str = ""


def _login_page(
    *, email: str = "", next_url: str = "", error: str | None = None, status: int = 200
) -> Template:
    return Template(
        template_name="login.html",
        status_code=status,
        context={
            "user_email": None,
            "active": "",
            "banner": None,
            "flashes": [],
            "email": email,
            "next_url": next_url,
            "error": error,
        },
        headers={"Cache-Control": "no-store"},
    )


@get(LOGIN_PATH, summary="Admin sign-in page", include_in_schema=False)
async def login_page(
    request: Request[Any, Any, Any], services: NamedDependency[ApiServices]
) -> Template | Redirect:
    next_url = request.query_params.get("next", "")
    user_id = request.session.get(USER_KEY)
    if isinstance(user_id, int):
        async with services.pool.acquire() as conn:
            user = await admin_users.by_id(conn, user_id)
        if user is not None and not user.disabled:
            return Redirect(path=safe_next(next_url), status_code=HTTP_303_SEE_OTHER)
        # A session of a removed or disabled account ends here (no redirect loop).
        request.clear_session()
    dashboard_cache.warm(request.app, services.pool)
    page = _login_page(next_url=next_url)
    if "signed_out" in request.query_params:
        page.context["flashes"] = [["info", "You are signed out."]]
    return page


@post(LOGIN_PATH, summary="Admin sign-in", include_in_schema=False, status_code=200)
async def login_submit(
    request: Request[Any, Any, Any],
    services: NamedDependency[ApiServices],
    data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Template | Redirect:
    settings = services.settings
    async with services.pool.acquire() as conn:
        result = await sign_in(
            conn,
            data.email,
            data.password,
            max_failures=settings.login_max_failures,
            lockout_s=settings.login_lockout_s,
        )
        if result.ok:
            # Sessions nobody came back for: a sign-in is a rare enough moment to sweep them.
            await admin_sessions.delete_expired(conn)
    if not result.ok:
        message = LOCKED if result.locked_until is not None else WRONG_CREDENTIALS
        return _login_page(email=data.email, next_url=data.next, error=message, status=401)
    # A new user id in the session makes the session backend issue a fresh session id.
    request.set_session({USER_KEY: result.user_id})
    return Redirect(path=safe_next(data.next), status_code=HTTP_303_SEE_OTHER)


@post("/admin/logout", guards=[SESSION], summary="Admin sign-out", include_in_schema=False)
async def logout(request: Request[Any, Any, Any]) -> Redirect:
    request.clear_session()
    return Redirect(path=f"{LOGIN_PATH}?signed_out=1", status_code=HTTP_303_SEE_OTHER)
