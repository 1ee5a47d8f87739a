"""/admin/retry-queue: health figures, rows by status, replay and discard (POST with CSRF)."""

from __future__ import annotations

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

from activitylog.domain.dead_letters import RetryRow, RetryStatus
from activitylog.domain.retry import outcomes
from activitylog.storage import retry_queue
from activitylog.use_cases.retry import redrive
from activitylog_api import params
from activitylog_api.paging import keyset_page
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


UNPLACED = "unplaced"


def _link(status: str = "", before: int | None = None) -> str:
    query = urlencode({k: v for k, v in (("status", status), ("before", before)) if v})
    return f"{PATH}?{query}" if query else PATH


def _fits(row_id: int) -> bool:
    """The path's integer could be a row id (a bigint); a larger one names no row."""
    return 0 < row_id <= params.MAX_BIGINT


def _back(value: str) -> str:
    """Return to the page the button was on, never anywhere else."""
    return value if value.startswith(PATH) and not value.startswith("//") else PATH


@get(PATH, guards=[SESSION], include_in_schema=False)
async def retry_queue_page(
    request: Request[Any, Any, Any], services: NamedDependency[ApiServices]
) -> Template:
    raw_status = (request.query_params.get("status") or "").lower()
    status = RetryStatus(raw_status) if raw_status in set(RetryStatus) else None
    # Pending events no lead took yet (a phone, email or message nothing matches).
    unplaced = raw_status == UNPLACED
    before = params.bigint_id(request.query_params.get("before") or "")
    health = await health_for_page(services)
    async with services.pool.acquire() as conn:
        counts = await retry_queue.count_by_status(conn)
        waiting = await retry_queue.count_waiting(conn)
        rows = await retry_queue.list_rows(
            conn, status=status, before_id=before, limit=PAGE_SIZE + 1, unplaced=unplaced
        )
    page = keyset_page(rows, PAGE_SIZE)
    current = UNPLACED if unplaced else status.value if status else ""
    tabs = [Tab("All", _link(), sum(counts.values()), status is None and not unplaced)]
    tabs += [
        Tab(s.value.title(), _link(s.value), counts[s.value], status is s) for s in RetryStatus
    ]
    tabs.append(Tab("Unplaced", _link(UNPLACED), waiting, unplaced))
    context = page_context(
        request,
        "retry",
        health=health,
        tabs=tabs,
        rows=[_row_view(r) for r in page.rows],
        status=current,
        back_url=_link(current, before),
        older_url=_link(current, page.rows[-1].id) if page.has_more else None,
        first_url=_link(current) if before else None,
    )
    return Template(
        template_name="retry_queue.html", context=context, headers={"Cache-Control": "no-store"}
    )


def _row_view(row: RetryRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "queue_id": row.queue_id,
        "operation_type": row.operation_type,
        "lead_id": row.lead_id,
        "payload": row.payload,
        "retry_count": row.retry_count,
        "next_retry_at": row.next_retry_at,
        "last_error": row.last_error,
        "status": row.status.value,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


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
