"""Sign in and sign out of the admin UI."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from activitylog.storage import admin_sessions, admin_users
from activitylog.use_cases.access.accounts import DEVICE_COOKIE, LoginLimits, sign_in
from activitylog_api.state import ApiServices
from activitylog_api.ui.guard import LOGIN_PATH, SESSION, login_url, safe_next
from activitylog_api.ui.sessions import USER_KEY

# The same two answers whether or not the account exists (README, "Admin UI").
WRONG_CREDENTIALS = "Wrong email or password."
THROTTLED = "Too many sign-in attempts. Wait a few minutes, then try again."


@dataclass
class LoginForm:
    email: str = ""
    password: str = ""
    next: str = ""


def client_address(request: Request[Any, Any, Any]) -> str:
    """Who is signing in, for the throttle: the connection's peer address.

    uvicorn has already put the X-Forwarded-For address there if, and only if, the peer is
    a proxy named in FORWARDED_ALLOW_IPS. An IPv6 client counts by its /64, the block one
    subscriber usually holds.
    """
    host = request.client.host if request.client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _login_page(
    *,
    email: str = "",
    next_url: str = "",
    error: str | None = None,
    status: int = 200,
    retry_after_s: int | None = None,
) -> Template:
    headers = {"Cache-Control": "no-store"}
    if retry_after_s is not None:
        headers["Retry-After"] = str(retry_after_s)
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
        headers=headers,
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
        # A session of a removed or disabled account ends here (no redirect loop): the form
        # comes with the next request, whose CSRF token is no longer bound to that session.
        request.clear_session()
        return Redirect(path=login_url(next_url), status_code=HTTP_303_SEE_OTHER)
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
    async with services.pool.acquire() as conn:
        result = await sign_in(
            conn,
            data.email,
            data.password,
            address=client_address(request),
            limits=LoginLimits.from_settings(services.settings),
            device=request.cookies.get(DEVICE_COOKIE),
        )
        if result.ok:
            # Sessions nobody came back for: a sign-in is a rare enough moment to sweep them.
            await admin_sessions.delete_expired(conn)
    if result.retry_after_s is not None:
        return _login_page(
            email=data.email,
            next_url=data.next,
            error=THROTTLED,
            status=429,
            retry_after_s=result.retry_after_s,
        )
    if not result.ok:
        return _login_page(
            email=data.email, next_url=data.next, error=WRONG_CREDENTIALS, status=401
        )
    # A new user id in the session makes the session backend issue a fresh session id.
    request.set_session({USER_KEY: result.user_id})
    settings = services.settings
    # This browser is now a known device for the account: others' failures never stop it.
    device = Cookie(
        key=DEVICE_COOKIE,
        value=result.device_cookie or "",
        path=LOGIN_PATH,
        max_age=settings.login_device_days * 86_400,
        secure=settings.session_secure_cookie,
        httponly=True,
        samesite="lax",
    )
    return Redirect(path=safe_next(data.next), status_code=HTTP_303_SEE_OTHER, cookies=[device])


@post("/admin/logout", guards=[SESSION], summary="Admin sign-out", include_in_schema=False)
async def logout(request: Request[Any, Any, Any]) -> Redirect:
    request.clear_session()
    return Redirect(path=f"{LOGIN_PATH}?signed_out=1", status_code=HTTP_303_SEE_OTHER)
