"""One error body for every failure: `{success: false, error, errors: [{field, message}]}`."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from activitylog.domain.reads.query import BadQuery
from activitylog.runtime.db import is_transient
from activitylog.runtime.logs import get_logger

log = get_logger("activitylog.api")


class ApiError(HTTPException):
    """A client or availability error with the fields at fault and extra body members."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail=message, status_code=status_code, headers=headers)
        self.errors = errors
        self.body = body or {}


def bad_request(field: str, message: str, **body: Any) -> ApiError:
    """400 naming one query parameter or body field."""
    return ApiError(
        400, f"{field}: {message}", errors=[{"field": field, "message": message}], body=body
    )


def from_bad_query(exc: BadQuery) -> ApiError:
    """The 400 of a query parameter the reads refused (`activitylog.domain.reads`)."""
    return bad_request(exc.field, exc.message, **exc.extra)


def bad_query_handler(request: Request[Any, Any, Any], exc: BadQuery) -> Response[Any]:
    return http_exception_handler(request, from_bad_query(exc))


def _errors_of(exc: HTTPException) -> list[dict[str, str]] | None:
    if isinstance(exc, ApiError):
        return exc.errors
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        return [
            {"field": str(item.get("key", "")), "message": str(item.get("message", ""))}
            for item in exc.extra
            if isinstance(item, dict)
        ]
    return None


def http_exception_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    body: dict[str, Any] = {"success": False, "error": exc.detail}
    errors = _errors_of(exc)
    if errors:
        body["errors"] = errors
        if isinstance(exc, ValidationException):
            body["error"] = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    if isinstance(exc, ApiError):
        body.update(exc.body)
    return Response(
        body, status_code=exc.status_code, headers=exc.headers, media_type=MediaType.JSON
    )


class BackendUnavailable(Exception):
    """PostgreSQL or Redis cannot serve the request now; answered 503 with Retry-After."""


def outage_message(exc: BaseException) -> str | None:
    """The client's message when `exc` means a backend is unreachable or hung, else None
    (a bug or bad data); `activitylog.db.is_transient` decides for PostgreSQL."""
    if isinstance(exc, BackendUnavailable):
        return str(exc)
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return "Redis is unavailable; try again shortly"
    if isinstance(exc, TimeoutError):
        return "the database (PostgreSQL) did not answer in time; try again shortly"
    if is_transient(exc):
        return "the database (PostgreSQL) is unavailable; try again shortly"
    return None


def retry_after(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The Retry-After header every 503 carries (API_RETRY_AFTER_S)."""
    return {"Retry-After": str(request.app.state.settings.api_retry_after_s)}


def unavailable_response(request: Request[Any, Any, Any], message: str) -> Response[Any]:
    return Response(
        {"success": False, "error": message},
        status_code=HTTP_503_SERVICE_UNAVAILABLE,
        headers=retry_after(request),
        media_type=MediaType.JSON,
    )


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """An outage is a 503 with Retry-After (the client retries); anything else a logged 500."""
    message = outage_message(exc)
    if message is not None:
        log.warning(
            "backend unavailable", path=request.url.path, method=request.method, error=repr(exc)
        )
        return unavailable_response(request, message)
    log.exception("unhandled error", path=request.url.path, method=request.method)
    return Response(
        {"success": False, "error": "internal server error"},
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        media_type=MediaType.JSON,
    )


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    HTTPException: http_exception_handler,
    BadQuery: bad_query_handler,
    Exception: internal_error_handler,
}
