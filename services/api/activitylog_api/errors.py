"""One error body for every failure: `{success: false, error, errors: [{field, message}]}`."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from activitylog.logs import get_logger

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


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error", path=request.url.path, method=request.method)
    return Response(
        {"success": False, "error": "internal server error"},
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        media_type=MediaType.JSON,
    )


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    HTTPException: http_exception_handler,
    Exception: internal_error_handler,
}
