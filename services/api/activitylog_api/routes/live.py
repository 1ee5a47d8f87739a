"""Live updates: server-sent-event streams of the events stored from now on.

- `GET /api/leads/{id}/activity/stream`: one lead's new events (as the timeline shows
  them); `GET /api/admin/activity-logs/stream`: new events under the browser's filters (as
  the browser lists them). Scoped like the reads: a portal key sees only its client's.
- The admin UI's streams (ui/live_pages.py) are built from the same parts.

A stream wakes when the ingest announces a stored batch (use_cases.live), and looks at the
database every few seconds anyway. Each event's SSE id is where the stream resumes: a
client that reconnects with `Last-Event-ID` gets everything stored since (an event may
come twice across a reconnection: its `id` tells). A stream ends when the client goes, and
when the API stops (the `bye` event): SIGTERM does not wait for streams to drain.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

import asyncpg
import orjson
from litestar import Request, get
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, PathParameter, QueryParameter
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from activitylog.contract.times import utc_in_window
from activitylog.runtime.logs import get_logger
from activitylog.storage import leads
from activitylog.storage.activity_log.filters import ActivityFilter
from activitylog.storage.activity_log.queries import browse
from activitylog.storage.live import Scope
from activitylog.use_cases import live
from activitylog.use_cases.access.keys import Role
from activitylog_api import params
from activitylog_api.auth import READ_ACTIVITY, Principal
from activitylog_api.errors import bad_request
from activitylog_api.live_events import StreamEvent
from activitylog_api.openapi import (
    INSTANT_PARAM,
    KEY_ERRORS,
    NO_NUL,
    error_responses,
    list_param,
)
from activitylog_api.routes.admin_logs import provide_filter
from activitylog_api.routes.timeline import MAX_REFERENCE_CHARS, lead_not_found
from activitylog_api.state import ApiServices
from activitylog_api.views import activity_item, timeline_item

log = get_logger("activitylog.api.live")

# What an EventSource waits before reconnecting (ms), sent with the first and last event.
RETRY_MS = 2_000
# A comment line this often keeps proxies from closing an idle stream.
HEARTBEAT_S = 15.0
# A client's `since` reaches back at most this far.
MAX_SINCE = timedelta(hours=1)
# Rows a search stream checks per wake-up (each distinct time is one indexed query).
SEARCH_ROWS_PER_WAKE = 100

_STREAM_DOC = (
    "A stream of server-sent events (`text/event-stream`), open until the client leaves or "
    "the API stops: first `ready` (its id is where the stream starts), then one `activity` "
    "event per new event (`data`: the item as JSON; `id`: where a reconnection with "
    "`Last-Event-ID` resumes; an item may then come twice, its `id` tells), comments as "
    "keep-alives, and `bye` when the API stops (reconnect, after `retry` ms)."
)
SSE_RESPONSE = {
    200: ResponseSpec(
        data_container=StreamEvent,
        media_type="text/event-stream",
        description=_STREAM_DOC,
        generate_examples=False,
    )
}


def hub_of(request: Request[Any, Any, Any]) -> live.LiveHub:
    return request.app.state.live  # type: ignore[no-any-return]


# The read filter's fields a Scope applies itself; any other (the search) is checked by the
# reads' own query (`_exact_matches`).
_IN_SCOPE = frozenset(f.name for f in dataclasses.fields(Scope))


def scope_of(flt: ActivityFilter) -> Scope:
    """A read filter's plain conditions."""
    return Scope(**{name: getattr(flt, name) for name in _IN_SCOPE if hasattr(flt, name)})


def needs_exact_check(flt: ActivityFilter) -> bool:
    """Whether `flt` asks more than its Scope applies (a search, or a filter added later)."""
    return any(
        getattr(flt, f.name) != f.default
        for f in dataclasses.fields(flt)
        if f.name not in _IN_SCOPE
    )


def since_of(value: str | None) -> datetime | None:
    """`since`: also send what was stored from then on (at most MAX_SINCE back). Read as
    the reads read `dateFrom`: a date or a date-time, UTC without an offset."""
    text = params.text("since", value, 64)
    if text is None:
        return None
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        else:
            parsed = datetime.fromisoformat(text.replace(" ", "+") if "T" in text else text)
        parsed = utc_in_window(parsed)
    except ValueError as exc:
        raise bad_request(
            "since", f"{text!r} is not an ISO-8601 date or date-time: {exc}"
        ) from None
    return max(parsed, datetime.now(UTC) - MAX_SINCE)


def _wants_lead(refs: set[str]) -> Callable[[live.Announcement], bool]:
    return lambda a: a.unrouted or bool(a.leads & refs)


def _wants_filter(flt: ActivityFilter) -> Callable[[live.Announcement], bool]:
    refs = {str(flt.lead_id)} if flt.lead_id else set()
    if flt.lead_airtable_id:
        refs.add(flt.lead_airtable_id)
    if refs:
        return _wants_lead(refs)
    return lambda a: bool(a.stored)


async def _exact_matches(
    conn: asyncpg.Connection, flt: ActivityFilter, rows: list[asyncpg.Record]
) -> list[asyncpg.Record]:
    """Of `rows` (in the filter's plain scope), those the whole filter (its search) matches,
    as the reads decide: their own query over each distinct time the rows hold."""
    if not needs_exact_check(flt) or not rows:
        return rows
    matched: set[uuid.UUID] = set()
    times = sorted({r["timestamp"] for r in rows})
    for at in times:
        found = await browse(
            conn,
            replace(flt, since=at, before=at + timedelta(microseconds=1)),
            limit=sum(1 for r in rows if r["timestamp"] == at) + 100,
            with_lead=False,
        )
        matched |= {r["id"] for r in found}
    return [r for r in rows if r["id"] in matched]


async def _stream(
    request: Request[Any, Any, Any],
    services: ApiServices,
    scope: Scope,
    wants: Callable[[live.Announcement], bool],
    resume: str | None,
    since: datetime | None,
    messages: Callable[[asyncpg.Connection, list[asyncpg.Record], str], Any],
    keep: Callable[[asyncpg.Connection, list[asyncpg.Record]], Any] | None = None,
    max_rows: int = live.MAX_ROWS_PER_WAKE,
) -> AsyncIterator[ServerSentEventMessage]:
    """The stream's events: `ready`, then `messages(conn, rows, token)` for each read's new
    rows (those `keep` keeps), keep-alives, and `bye` when the API stops."""
    hub = hub_of(request)
    pool = services.pool
    async with pool.acquire() as conn:
        follower = await live.LogFollower.starting(
            conn, scope, live.LogFollower.parse_token(resume)
        )
        caught_up = await follower.arrived_since(conn, since) if since else []
    # Counted open from here (its start is set: whatever is stored now is sent).
    with hub.listening(wants) as listener:
        yield ServerSentEventMessage(
            event="ready",
            id=follower.token,
            data=orjson.dumps({"resume": follower.token}).decode(),
            retry=RETRY_MS,
        )
        last_sent = datetime.now(UTC)

        async def send(rows: list[asyncpg.Record]) -> list[ServerSentEventMessage]:
            async with pool.acquire() as conn:
                if keep is not None:
                    rows = await keep(conn, rows)
                return list(await messages(conn, rows, follower.token)) if rows else []

        pending = caught_up
        async for rows in live.follow(hub, listener, pool, follower, max_rows=max_rows):
            out = await send(pending + rows if pending else rows)
            pending = []
            now = datetime.now(UTC)
            if out:
                for message in out:
                    yield message
                last_sent = now
            elif (now - last_sent).total_seconds() >= HEARTBEAT_S:
                yield ServerSentEventMessage(comment="keep-alive", data=None)
                last_sent = now
        yield ServerSentEventMessage(
            event="bye", data=orjson.dumps({"reason": "shutdown"}).decode(), retry=RETRY_MS
        )


def _sse(content: AsyncIterator[ServerSentEventMessage]) -> ServerSentEvent:
    return ServerSentEvent(content, headers={"Cache-Control": "no-store"})


def filter_stream(
    request: Request[Any, Any, Any],
    services: ApiServices,
    flt: ActivityFilter,
    resume: str | None,
    since: datetime | None,
    messages: Callable[[asyncpg.Connection, list[asyncpg.Record], str], Any],
) -> ServerSentEvent:
    """The new events `flt` matches (a search checked as the reads check it), as `messages`."""

    async def keep(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[asyncpg.Record]:
        return await _exact_matches(conn, flt, rows)

    per_wake = SEARCH_ROWS_PER_WAKE if needs_exact_check(flt) else live.MAX_ROWS_PER_WAKE
    return _sse(
        _stream(
            request,
            services,
            scope_of(flt),
            _wants_filter(flt),
            resume,
            since,
            messages,
            keep,
            per_wake,
        )
    )


def lead_stream_of(
    request: Request[Any, Any, Any],
    services: ApiServices,
    lead: asyncpg.Record,
    scope: Scope,
    resume: str | None,
    since: datetime | None,
    messages: Callable[[asyncpg.Connection, list[asyncpg.Record], str], Any],
) -> ServerSentEvent:
    """The new events of `lead` (a leads.find_lead row) in `scope`, as `messages`."""
    refs = {str(lead["id"]), *([lead["airtable_record_id"]] if lead["airtable_record_id"] else [])}
    return _sse(_stream(request, services, scope, _wants_lead(refs), resume, since, messages))


# -- the API's streams -------------------------------------------------------------------------

LastEventId = Annotated[
    str | None,
    HeaderParameter(
        name="last-event-id",
        required=False,
        max_length=60,
        description="the `id` of the last event received: resume from there (an id this API "
        "did not send is ignored: the stream starts from now)",
    ),
]
Since = Annotated[
    str | None,
    QueryParameter(
        description="also send the events stored since this time (ISO 8601; at most an hour "
        "back), e.g. when the list the client shows was read",
        schema_extra=INSTANT_PARAM,
    ),
]


@get(
    "/api/leads/{id:str}/activity/stream",
    guards=[READ_ACTIVITY],
    summary="A lead's new events, live (server-sent events)",
    description="The lead's events as they are stored, each as the timeline shows it. `id` "
    "is the lead's UUID or Airtable record id; portal keys see only their client's leads "
    "(404 for any other). " + _STREAM_DOC,
    tags=["timeline"],
    responses={**SSE_RESPONSE, **error_responses(*KEY_ERRORS, 404)},
)
async def lead_activity_stream(
    request: Request[Any, Any, Any],
    id: Annotated[  # the path parameter is `id` in the spec
        str,
        PathParameter(
            description="the lead's UUID or Airtable record id",
            schema_extra={"max_length": MAX_REFERENCE_CHARS, "pattern": NO_NUL},
        ),
    ],
    services: NamedDependency[ApiServices],
    principal: NamedDependency[Principal],
    category: Annotated[
        str | None,
        QueryParameter(
            description="a category, or several separated by commas",
            schema_extra=list_param(params.VALID_CATEGORIES),
        ),
    ] = None,
    event_type: Annotated[
        str | None,
        QueryParameter(
            name="eventType",
            description="an event type, or several separated by commas",
            schema_extra=list_param(params.VALID_TYPES),
        ),
    ] = None,
    since: Since = None,
    last_event_id: LastEventId = None,
) -> ServerSentEvent:
    reference = params.text("id", id, MAX_REFERENCE_CHARS) or ""
    categories = params.categories("category", category)
    event_types = params.event_types("eventType", event_type)
    from_time = since_of(since)
    async with services.pool.acquire() as conn:
        lead = await leads.find_lead(conn, reference)
    if lead is None or (principal.role == Role.PORTAL and lead["client_id"] != principal.client_id):
        raise lead_not_found(reference)
    scope = Scope(lead_id=lead["id"], categories=categories, event_types=event_types)

    async def messages(
        _: asyncpg.Connection, rows: list[asyncpg.Record], token: str
    ) -> list[ServerSentEventMessage]:
        return [_item_message(timeline_item(r), token) for r in rows]

    return lead_stream_of(request, services, lead, scope, last_event_id, from_time, messages)


def _item_message(item: Any, token: str) -> ServerSentEventMessage:
    return ServerSentEventMessage(event="activity", id=token, data=orjson.dumps(item).decode())


@get(
    "/api/admin/activity-logs/stream",
    guards=[READ_ACTIVITY],
    dependencies={"flt": Provide(provide_filter, sync_to_thread=False)},
    summary="New events under the browser's filters, live (server-sent events)",
    description="The events matching the filters as they are stored, each as the browser "
    "lists it; the filters are the browser's (a portal key reads its own client only). "
    + _STREAM_DOC,
    tags=["admin"],
    responses={**SSE_RESPONSE, **error_responses(*KEY_ERRORS)},
)
async def activity_logs_stream(
    request: Request[Any, Any, Any],
    services: NamedDependency[ApiServices],
    flt: NamedDependency[ActivityFilter],
    since: Since = None,
    last_event_id: LastEventId = None,
) -> ServerSentEvent:
    from_time = since_of(since)

    async def messages(
        _: asyncpg.Connection, rows: list[asyncpg.Record], token: str
    ) -> list[ServerSentEventMessage]:
        return [_item_message(activity_item(r), token) for r in rows]

    return filter_stream(request, services, flt, last_event_id, from_time, messages)


# -- registration and shutdown ---------------------------------------------------------------

API_LIVE_ROUTES = [lead_activity_stream, activity_logs_stream]


__all__: Sequence[str] = ("API_LIVE_ROUTES",)
