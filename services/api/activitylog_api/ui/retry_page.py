"""/admin/retry-queue: health figures, rows by status, replay and discard (POST with CSRF)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from activitylog.domain.dead_letters import RetryStatus
from activitylog.domain.reads.params import MAX_BIGINT, bigint_id
from activitylog.domain.reads.query import BadQuery
from activitylog.domain.retry import outcomes
from activitylog.storage import retry_queue
from activitylog.use_cases.reads.retry_queue import (
    UNPLACED,
    RetryQueueQuery,
    read_cursor,
    read_retry_queue,
    status_choice,
)
from activitylog.use_cases.retry import redrive
from activitylog_api.state import ApiServices
from activitylog_api.ui.guard import EMAIL_STATE_KEY, SESSION, flash, page_context
from activitylog_api.ui.health_view import health_for_page

PATH = "/admin/retry-queue"
PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class Tab:
    label: str
    url: str
    count: int
    active: bool


@dataclass
class ActionForm:
    back: str = ""


def _link(status: str = "", cursor: str | None = None, before: int | None = None) -> str:
    pairs = (("status", status), ("cursor", cursor), ("before", before))
    query = urlencode({k: v for k, v in pairs if v})
    return f"{PATH}?{query}" if query else PATH


def _fits(row_id: int) -> bool:
    """The path's integer could be a row id (a bigint); a larger one names no row."""
    return 0 < row_id <= MAX_BIGINT


def _back(value: str) -> str:
    """Return to the page the button was on, never anywhere else."""
    return value if value.startswith(PATH) and not value.startswith("//") else PATH


def _query(request: Request[Any, Any, Any]) -> RetryQueueQuery:
    """The page asked for: a status tab (anything else: all), after `cursor` or, as older
    links say it, below the row id `before`; a cursor that is not ours starts over."""
    values = request.query_params
    try:
        status, unplaced = status_choice((values.get("status") or "").lower() or None)
    except BadQuery:
        status, unplaced = None, False
    cursor = values.get("cursor") or None
    if cursor is not None:
        try:
            read_cursor(cursor)
        except BadQuery:
            cursor = None
    before = bigint_id(values.get("before") or "")
    return RetryQueueQuery(status, unplaced, cursor=cursor, before_id=before, limit=PAGE_SIZE)


@get(PATH, guards=[SESSION], include_in_schema=False)
async def retry_queue_page(
    request: Request[Any, Any, Any], services: NamedDependency[ApiServices]
) -> Template:
    query = _query(request)
    health, page = await asyncio.gather(
        health_for_page(services), read_retry_queue(services.pool, query)
    )
    status = query.status
    current = UNPLACED if query.unplaced else status.value if status else ""
    counts = page.counts
    tabs = [Tab("All", _link(), sum(counts.values()), status is None and not query.unplaced)]
    tabs += [
        Tab(s.value.title(), _link(s.value), counts[s.value], status is s) for s in RetryStatus
    ]
    tabs.append(Tab("Unplaced", _link(UNPLACED), page.unplaced, query.unplaced))
    continued = query.cursor is not None or query.before_id is not None
    context = page_context(
        request,
        "retry",
        health=health,
        tabs=tabs,
        rows=page.rows,
        status=current,
        back_url=_link(current, query.cursor, None if query.cursor else query.before_id),
        older_url=_link(current, page.next_cursor) if page.next_cursor else None,
        first_url=_link(current) if continued else None,
    )
    return Template(
        template_name="retry_queue.html", context=context, headers={"Cache-Control": "no-store"}
    )


@get(f"{PATH}/{{row_id:int}}/raw", guards=[SESSION], include_in_schema=False)
async def raw_payload(
    services: NamedDependency[ApiServices], row_id: FromPath[int]
) -> Response[str]:
    """The payload exactly as stored, as plain text the browser will not interpret."""
    row = None
    if _fits(row_id):
        async with services.pool.acquire() as conn:
            row = await retry_queue.get(conn, row_id)
    if row is None:
        raise NotFoundException(f"retry_queue row {row_id} does not exist")
    return Response(
        row.payload,
        media_type=MediaType.TEXT,
        headers={"Cache-Control": "no-store", "Content-Disposition": "inline"},
    )


@post(f"{PATH}/{{row_id:int}}/replay", guards=[SESSION], include_in_schema=False)
async def replay_row(
    request: Request[Any, Any, Any],
    services: NamedDependency[ApiServices],
    row_id: FromPath[int],
    data: Annotated[ActionForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    policy = outcomes.RetryPolicy.from_settings(services.settings)
    done = await redrive.replay(services.pool, [row_id], policy) if _fits(row_id) else []
    if not done:
        flash(request, "error", f"Row #{row_id} does not exist.")
    elif done[0].succeeded:
        stored = "stored" if done[0].inserted else "was already stored"
        flash(request, "success", f"Row #{row_id} replayed: its event {stored}; row resolved.")
    else:
        flash(request, "error", f"Row #{row_id} failed again: {done[0].error}")
    return Redirect(path=_back(data.back), status_code=HTTP_303_SEE_OTHER)


@post(f"{PATH}/{{row_id:int}}/discard", guards=[SESSION], include_in_schema=False)
async def discard_row(
    request: Request[Any, Any, Any],
    services: NamedDependency[ApiServices],
    row_id: FromPath[int],
    data: Annotated[ActionForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    who = request.scope["state"].get(EMAIL_STATE_KEY) or "an admin"
    try:
        row = (
            await redrive.discard(services.pool, row_id, reason=f"via the admin UI by {who}")
            if _fits(row_id)
            else None
        )
    except outcomes.DiscardRefused as exc:
        flash(request, "error", str(exc))
    else:
        if row is None:
            flash(request, "error", f"Row #{row_id} does not exist.")
        else:
            flash(request, "success", f"Row #{row_id} discarded.")
    return Redirect(path=_back(data.back), status_code=HTTP_303_SEE_OTHER)
