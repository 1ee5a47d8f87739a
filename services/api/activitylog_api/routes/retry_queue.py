"""The retry queue for operators (§6, §7): list rows, replay or discard one (admin key)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

import orjson
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import PathParameter, QueryParameter

from activitylog import retry_ops
from activitylog.db import is_transient
from activitylog.retry_ops import RetryPolicy
from activitylog.storage import retry_queue
from activitylog.storage.retry_queue import RetryStatus
from activitylog_api.auth import ADMIN_ONLY
from activitylog_api.cursor import decode_cursor, encode_cursor
from activitylog_api.errors import ApiError, bad_request
from activitylog_api.state import ApiServices

T = TypeVar("T")
MAX_LIMIT = 200
MAX_REASON_CHARS = 500
STATUSES = [s.value for s in RetryStatus]
_CURSOR_KIND = "retry-queue:id:desc"


async def _database(services: ApiServices, work: Awaitable[T]) -> T:
    """Run `work`; PostgreSQL unreachable → 503 with Retry-After instead of a 500."""
    try:
        return await work
    except Exception as exc:
        if not (isinstance(exc, TimeoutError) or is_transient(exc)):
            raise
        raise ApiError(
            503,
            "PostgreSQL is unavailable; try again shortly",
            headers={"Retry-After": str(services.settings.api_retry_after_s)},
        ) from None


# Any text reaches the guard (an unauthenticated caller gets 401, never a routing 404);
# the handler then turns it into a row id.
RowId = Annotated[str, PathParameter(description="the row's id (an integer)")]


def _not_found(row_id: object) -> NotFoundException:
    return NotFoundException(f"no retry_queue row {row_id}")


def _row_id(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise _not_found(text)
    return int(text)


class RetryQueueController(Controller):
    path = "/api/admin/retry-queue"
    guards = [ADMIN_ONLY]  # noqa: RUF012 - Litestar reads the class attribute
    tags = ["retry queue"]  # noqa: RUF012

    @get("/", summary="Rows newest first, with counts per status")
    async def list_rows(
        self,
        services: NamedDependency[ApiServices],
        status: Annotated[str | None, QueryParameter(description=" | ".join(STATUSES))] = None,
        lead_id: Annotated[str | None, QueryParameter(name="leadId")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = 50,
        cursor: Annotated[
            str | None, QueryParameter(description="nextCursor of the previous page")
        ] = None,
    ) -> dict[str, Any]:
        if status is not None and status not in STATUSES:
            raise bad_request("status", f"must be one of {', '.join(STATUSES)}")
        before = _cursor_id(cursor) if cursor else None

        async def query() -> tuple[list[retry_queue.RetryRow], dict[str, int]]:
            async with services.pool.acquire() as conn:
                rows = await retry_queue.list_rows(
                    conn,
                    status=RetryStatus(status) if status else None,
                    lead_id=lead_id,
                    before_id=before,
                    limit=limit + 1,
                )
                return rows, await retry_queue.count_by_status(conn)

        rows, counts = await _database(services, query())
        has_more = len(rows) > limit
        rows = rows[:limit]
        return {
            "rows": [retry_ops.row_json(r) for r in rows],
            "counts": counts,
            "pagination": {
                "limit": limit,
                "hasMore": has_more,
                "nextCursor": encode_cursor(_CURSOR_KIND, [rows[-1].id]) if has_more else None,
            },
        }

    @get("/{row_id:str}", summary="One row in full")
    async def show(self, services: NamedDependency[ApiServices], row_id: RowId) -> dict[str, Any]:
        row = await _database(services, self._row(services, _row_id(row_id)))
        if row is None:
            raise _not_found(row_id)
        return retry_ops.row_json(row)

    @post(
        "/{row_id:str}/replay",
        status_code=200,
        summary="Store the row's event now (idempotent; a resolved row adds nothing)",
        description="`success` is false when the event still cannot be stored; `outcome.error` "
        "says why and the row keeps its status (a pending row counts an attempt).",
    )
    async def replay(self, services: NamedDependency[ApiServices], row_id: RowId) -> dict[str, Any]:
        rid = _row_id(row_id)
        policy = RetryPolicy.from_settings(services.settings)
        outcomes = await _database(services, retry_ops.replay(services.pool, [rid], policy))
        if not outcomes:
            raise _not_found(row_id)
        (outcome,) = outcomes
        row = await _database(services, self._row(services, rid))
        return {
            "success": outcome.succeeded,
            "outcome": outcome.as_json(),
            "row": retry_ops.row_json(row) if row else None,
        }

    @post(
        "/{row_id:str}/discard",
        status_code=200,
        summary="Never retry this row; optional body {reason}",
        description="409 for a resolved row (its event is stored).",
    )
    async def discard(
        self,
        services: NamedDependency[ApiServices],
        request: Request[Any, Any, Any],
        row_id: RowId,
    ) -> dict[str, Any]:
        rid = _row_id(row_id)
        reason = _reason(await request.body())
        try:
            row = await _database(services, retry_ops.discard(services.pool, rid, reason))
        except retry_ops.DiscardRefused as exc:
            raise ApiError(409, str(exc)) from None
        if row is None:
            raise _not_found(row_id)
        return {"success": True, "row": retry_ops.row_json(row)}

    @staticmethod
    async def _row(services: ApiServices, row_id: int) -> retry_queue.RetryRow | None:
        async with services.pool.acquire() as conn:
            return await retry_queue.get(conn, row_id)


def _cursor_id(cursor: str) -> int:
    (value,) = decode_cursor(cursor, _CURSOR_KIND, (str,))
    if not value.isdigit():
        raise bad_request("cursor", "malformed cursor; use the nextCursor of a previous page")
    return int(value)


def _reason(raw: bytes) -> str | None:
    """The optional `{"reason": …}` body of a discard."""
    if not raw.strip():
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or set(data) - {"reason"}:
        raise bad_request("reason", 'the body may only be {"reason": "…"}')
    reason = data.get("reason")
    if reason is None:
        return None
    if not isinstance(reason, str) or "\x00" in reason or len(reason) > MAX_REASON_CHARS:
        raise bad_request("reason", f"must be text without NUL, ≤ {MAX_REASON_CHARS} characters")
    return reason.strip() or None
