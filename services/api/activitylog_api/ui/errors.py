"""HTML error pages of the admin UI: a clear banner instead of a stack trace or JSON."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from redis.exceptions import RedisError

from activitylog.domain.reads.query import BadQuery
from activitylog.runtime.logs import get_logger
from activitylog_api.errors import ApiError, from_bad_query, outage_message, retry_after
from activitylog_api.ui.guard import EMAIL_STATE_KEY, LoginRequired, login_url

log = get_logger("activitylog.ui")

DATABASE_DOWN = (
    "The database (PostgreSQL) cannot be reached, so nothing can be shown right now. "
    "No event is lost: the stream holds new events until the database is back."
)


def _page(
    request: Request[Any, Any, Any],
    status: int,
    heading: str,
    detail: str,
    *,
    retry: bool,
    headers: dict[str, str] | None = None,
) -> Template:
    return Template(
        template_name="error.html",
        status_code=status,
        context={
            "user_email": request.scope.get("state", {}).get(EMAIL_STATE_KEY),
            "active": "",
            "banner": detail if status >= 500 else None,
            "flashes": [],
            "show_nav": True,
            "heading": heading,
            "detail": detail,
            "retry": retry,
        },
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def login_required(_: Request[Any, Any, Any], exc: LoginRequired) -> Redirect:
    return Redirect(path=login_url(exc.next_url), status_code=HTTP_303_SEE_OTHER)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, PermissionDeniedException) and "CSRF" in str(exc.detail):
        return _page(
            request,
            403,
            "This form has expired",
            "The form was sent without a valid security (CSRF) token. "
            "Go back, reload the page and try again.",
            retry=False,
        )
    if isinstance(exc, NotFoundException):
        return _page(request, 404, "Not found", str(exc.detail or "No such page."), retry=False)
    if isinstance(exc, ApiError):
        return _page(
            request,
            exc.status_code,
            "Cannot show this",
            exc.detail,
            retry=False,
            headers=exc.headers,
        )
    return _page(
        request,
        exc.status_code,
        "Request refused",
        str(exc.detail),
        retry=False,
        headers=exc.headers,
    )


def bad_query(request: Request[Any, Any, Any], exc: BadQuery) -> Response[Any]:
    """A parameter the reads refused, as a 400 page naming it."""
    return http_error(request, from_bad_query(exc))


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The same outages as the API's 503s (activitylog_api.errors), as a page.
    if outage_message(exc) is not None:
        if isinstance(exc, RedisError):
            log.warning("admin page without redis", path=request.url.path, error=repr(exc))
            heading, detail = "Redis unavailable", "Redis cannot be reached right now."
        else:
            log.warning("admin page without database", path=request.url.path, error=repr(exc))
            heading, detail = "Database unavailable", DATABASE_DOWN
        return _page(request, 503, heading, detail, retry=True, headers=retry_after(request))
    log.exception("admin page failed", path=request.url.path)
    return _page(
        request,
        500,
        "Something went wrong",
        "The page could not be built; the error is in the api service's log.",
        retry=False,
    )


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    LoginRequired: login_required,
    HTTPException: http_error,
    BadQuery: bad_query,
    Exception: unexpected_error,
}
