"""The retry queue for operators: list rows, replay or discard one (admin key)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter, QueryParameter

from activitylog.domain.dead_letters import RetryRow
from activitylog.domain.reads.params import bigint_id
from activitylog.domain.retry import outcomes
from activitylog.domain.retry import views as retry_views
from activitylog.domain.retry.outcomes import RetryPolicy
from activitylog.storage import retry_queue
from activitylog.use_cases.reads.retry_queue import (
    STATUS_NAMES,
    RetryQueueQuery,
    read_retry_queue,
    status_choice,
)
from activitylog.use_cases.retry import redrive
from activitylog_api.auth import ADMIN_ONLY
from activitylog_api.errors import ApiError, bad_request
from activitylog_api.openapi import (
    CURSOR_PARAM,
    KEY_ERRORS,
    NO_NUL,
    error_responses,
    param_schema,
    request_body,
)
from activitylog_api.state import ApiServices
from activitylog_api.views import Discarded, Replayed, RetryQueuePage, RetryRowBody

MAX_LIMIT = 200
MAX_REASON_CHARS = 500
STATUSES = STATUS_NAMES


# Any text reaches the guard (an unauthenticated caller gets 401, never a routing 404);
# the handler then turns it into a row id.
RowId = Annotated[
    str,
    PathParameter(
        description="the row's id (an integer; anything else is a 404)",
        schema_extra={"pattern": NO_NUL},
    ),
]


_DISCARD_BODY = {
    "type": "object",
    "properties": {
        "reason": {
            "type": ["string", "null"],
            "maxLength": MAX_REASON_CHARS,
            "description": "kept in the row's last_error",
        }
    },
    "additionalProperties": False,
}


def _ok(body: type) -> ResponseSpec:
    return ResponseSpec(body, description="Request fulfilled", generate_examples=False)


def _not_found(row_id: object) -> NotFoundException:
    return NotFoundException(f"no retry_queue row {row_id}")


def _row_id(text: str) -> int:
    row_id = bigint_id(text)
    if row_id is None:
        raise _not_found(text)
    return row_id


class RetryQueueController(Controller):
    path = "/api/admin/retry-queue"
    guards = [ADMIN_ONLY]  # noqa: RUF012 - Litestar reads the class attribute
    tags = ["retry queue"]  # noqa: RUF012

    @get(
        "/",
        summary="Rows newest first, with counts per status",
        responses={200: _ok(RetryQueuePage), **error_responses(*KEY_ERRORS)},
    )
    async def list_rows(
        self,
        services: NamedDependency[ApiServices],
        status: Annotated[
            str | None,
            QueryParameter(
                description=" | ".join(STATUSES) + " (unplaced: pending or dead rows no lead "
                "took yet)",
                schema_extra=param_schema(enum=STATUSES),
            ),
        ] = None,
        lead_id: Annotated[
            str | None,
            QueryParameter(name="leadId", schema_extra=param_schema(type="string", pattern=NO_NUL)),
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = 50,
        cursor: Annotated[
            str | None,
            QueryParameter(
                description="nextCursor of the previous page",
                schema_extra=CURSOR_PARAM,
            ),
        ] = None,
    ) -> dict[str, Any]:
        chosen, unplaced = status_choice(status)
        query = RetryQueueQuery(chosen, unplaced, lead_id, cursor or None, limit=limit)
        found = await read_retry_queue(services.pool, query)
        return {
            "rows": [retry_views.row_json(r) for r in found.rows],
            "counts": found.counts,
            "pagination": {
                "limit": limit,
                "hasMore": found.has_more,
                "nextCursor": found.next_cursor,
            },
        }

    @get(
        "/{row_id:str}",
        summary="One row in full",
        responses={200: _ok(RetryRowBody), **error_responses(*KEY_ERRORS, 404)},
    )
    async def show(self, services: NamedDependency[ApiServices], row_id: RowId) -> dict[str, Any]:
        row = await self._row(services, _row_id(row_id))
        if row is None:
            raise _not_found(row_id)
        return retry_views.row_json(row)

    @post(
        "/{row_id:str}/replay",
        status_code=200,
        summary="Store the row's event now (idempotent; a resolved row adds nothing)",
        description="`success` is false when the event still cannot be stored; `outcome.error` "
        "says why and the row keeps its status (a pending row counts an attempt).",
        responses={200: _ok(Replayed), **error_responses(*KEY_ERRORS, 404)},
    )
    async def replay(self, services: NamedDependency[ApiServices], row_id: RowId) -> dict[str, Any]:
        rid = _row_id(row_id)
        policy = RetryPolicy.from_settings(services.settings)
        outcomes = await redrive.replay(services.pool, [rid], policy)
        if not outcomes:
            raise _not_found(row_id)
        (outcome,) = outcomes
        row = await self._row(services, rid)
        return {
            "success": outcome.succeeded,
            "outcome": outcome.as_json(),
            "row": retry_views.row_json(row) if row else None,
        }

    @post(
        "/{row_id:str}/discard",
        status_code=200,
        summary="Never retry this row; optional body {reason}",
        description="409 for a resolved row (its event is stored).",
        responses={200: _ok(Discarded), **error_responses(*KEY_ERRORS, 404, 409, 413)},
        opt=request_body(
            None,
            "Optional: why the row is discarded",
            required=False,
            schema=_DISCARD_BODY,
        ),
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
            row = await redrive.discard(services.pool, rid, reason)
        except outcomes.DiscardRefused as exc:
            raise ApiError(409, str(exc)) from None
        if row is None:
            raise _not_found(row_id)
        return {"success": True, "row": retry_views.row_json(row)}

    @staticmethod
    async def _row(services: ApiServices, row_id: int) -> RetryRow | None:
        async with services.pool.acquire() as conn:
            return await retry_queue.get(conn, row_id)


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
