"""The admin UI's live pieces: the activity browser's and the lead page's new rows as
server-sent events (routes/live.py's streams, sending rendered rows), a row's lead context
(its 5 latest events) and the browser's time presets with their counts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Response, ServerSentEvent, Template
from litestar.response.sse import ServerSentEventMessage

from activitylog.contract.times import iso
from activitylog.storage import leads
from activitylog.storage import live as live_sql
from activitylog.storage.activity_log.filters import ActivityFilter
from activitylog.storage.activity_log.queries import browse
from activitylog.storage.live import Scope
from activitylog.use_cases.counters.totals import count_total
from activitylog_api import event_display, params
from activitylog_api.errors import ApiError
from activitylog_api.routes.live import filter_stream, lead_stream_of, since_of
from activitylog_api.state import ApiServices
from activitylog_api.ui import browser_query
from activitylog_api.ui.activity import count_text, parse_request
from activitylog_api.ui.guard import SESSION, page_context, user_zone
from activitylog_api.ui.highlight import search_terms
from activitylog_api.ui.lead_page import day_group
from activitylog_api.ui.present import EventView, event_view

RECENT_EVENTS = 5


def _render(request: Request[Any, Any, Any], name: str, **context: Any) -> str:
    template = request.app.template_engine.get_template(name)  # type: ignore[union-attr]
    return str(template.render(**context))


def _row_html(request: Request[Any, Any, Any], event: EventView, zone: str, **options: Any) -> str:
    values: dict[str, Any] = {
        "e": event,
        "show_lead": True,
        "terms": (),
        "n8n_base": "",
        "reply": False,
        "parent": None,
        "after": None,
        "user_zone": zone,
    }
    values.update(options)
    return _render(request, "_live_row.html", **values)


def _rows_message(rows: list[dict[str, Any]], token: str) -> ServerSentEventMessage:
    return ServerSentEventMessage(
        event="rows", id=token, data=orjson.dumps({"rows": rows, "count": len(rows)}).decode()
    )


@get("/admin/live/activity", guards=[SESSION], include_in_schema=False)
async def browser_stream(
    request: Request[Any, Any, Any], services: NamedDependency[ApiServices]
) -> ServerSentEvent:
    """The activity browser's new rows under its filters (the page's own query string)."""
    query = parse_request(request)
    if query.error is not None:
        raise ApiError(400, query.error)
    flt = query.filter
    zone = user_zone(request)
    terms = search_terms(flt.search)
    n8n_base = (services.settings.n8n_base_url or "").rstrip("/")

    async def messages(
        _: asyncpg.Connection, rows: list[asyncpg.Record], token: str
    ) -> list[ServerSentEventMessage]:
        out = []
        for row in rows:
            event = event_view(row)
            html = _row_html(request, event, zone, terms=terms, n8n_base=n8n_base)
            out.append({"id": str(event.id), "ts": iso(event.timestamp), "html": html})
        return [_rows_message(out, token)]

    resume = request.headers.get("last-event-id")
    since = since_of(request.query_params.get("since"))
    return filter_stream(request, services, flt, resume, since, messages)


async def _thread_of(conn: asyncpg.Connection, event: EventView) -> asyncpg.Record | None:
    """A new row's parent on the lead timeline (event_display.thread_parents' rule, asked
    of the database): the message its `inReplyTo` names; for a report, its message's send;
    else for a reply the latest message sent before it within 24 h."""
    if event.reply_to:
        return await live_sql.message_named(conn, event.lead_id, event.reply_to)
    if event.event_type in event_display.REPORT_TYPES and event.message_ref:
        return await live_sql.send_of_message(conn, event.lead_id, event.message_ref)
    if event.event_type in event_display.REPLY_TYPES:
        return await live_sql.latest_before(
            conn,
            event.lead_id,
            event.timestamp,
            event_display.OUTBOUND_TYPES,
            event_display.THREAD_WINDOW,
        )
    return None


@get("/admin/live/leads/{reference:str}", guards=[SESSION], include_in_schema=False)
async def lead_stream(
    request: Request[Any, Any, Any],
    services: NamedDependency[ApiServices],
    reference: FromPath[str],
) -> ServerSentEvent:
    """The lead page's new rows: each with its day group and, for a reply, the row it goes
    under and how long after it came."""
    try:
        categories = params.categories("category", request.query_params.get("category"))
    except ApiError:
        categories = ()
    async with services.pool.acquire() as conn:
        lead = await leads.find_lead(conn, reference.strip())
    if lead is None:
        raise NotFoundException(f"There is no lead {reference!r}.")
    zone = user_zone(request)
    tz = event_display._zone(zone)
    name = lead["display_name"]

    async def messages(
        conn: asyncpg.Connection, rows: list[asyncpg.Record], token: str
    ) -> list[ServerSentEventMessage]:
        today = datetime.now(UTC).astimezone(tz).date()
        out = []
        for row in rows:
            event = event_view(row, name)
            parent = await _thread_of(conn, event)
            after = (
                event_display.response_text((event.timestamp - parent["timestamp"]).total_seconds())
                if parent is not None
                else None
            )
            key, title = day_group(event.timestamp.astimezone(tz).date(), today)
            html = _row_html(
                request,
                event,
                zone,
                show_lead=False,
                reply=parent is not None,
                parent=parent["id"] if parent is not None else None,
                after=after,
            )
            out.append(
                {
                    "id": str(event.id),
                    "ts": iso(event.timestamp),
                    "html": html,
                    "parent": str(parent["id"]) if parent is not None else None,
                    "day": {"key": key, "title": title},
                }
            )
        return [_rows_message(out, token)]

    scope = Scope(lead_id=lead["id"], categories=categories)
    resume = request.headers.get("last-event-id")
    since = since_of(request.query_params.get("since"))
    return lead_stream_of(request, services, lead, scope, resume, since, messages)


@get("/admin/leads/{reference:str}/recent", guards=[SESSION], include_in_schema=False)
async def lead_recent(
    request: Request[Any, Any, Any],
    services: NamedDependency[ApiServices],
    reference: FromPath[str],
) -> Template:
    """A browser row's lead context: the lead's 5 most recent events."""
    async with services.pool.acquire() as conn:
        lead = await leads.find_lead(conn, reference.strip())
        if lead is None:
            raise NotFoundException(f"There is no lead {reference!r}.")
        rows = await browse(
            conn, ActivityFilter(lead_id=lead["id"]), limit=RECENT_EVENTS, with_lead=False
        )
    events = [event_view(r, lead["display_name"]) for r in rows]
    context = page_context(request, "activity", lead_id=lead["id"], events=events)
    return Template(
        template_name="_lead_recent.html", context=context, headers={"Cache-Control": "no-store"}
    )


# The browser's time presets: the "When" select's, This week among them, Custom not.
PRESETS = (*browser_query.RANGES[:3], ("week", "This week"), *browser_query.RANGES[3:-1])


def _local_input(value: datetime, zone: str) -> str:
    """A time as a datetime-local input writes it, in the admin's zone."""
    return value.astimezone(event_display._zone(zone)).strftime("%Y-%m-%dT%H:%M")


@get("/admin/live/presets", guards=[SESSION], include_in_schema=False)
async def time_presets(
    request: Request[Any, Any, Any], services: NamedDependency[ApiServices]
) -> Response[list[dict[str, Any]]]:
    """Each time preset under the browser's other filters: its link, its count, whether it
    is the one chosen. "This week" (Monday 00:00 in the admin's zone until now) is a custom
    range the browser reads as any other."""
    query = parse_request(request)
    if query.error is not None:
        raise ApiError(400, query.error)
    zone = user_zone(request)
    tz = event_display._zone(zone)
    now = datetime.now(UTC)
    week_from = _local_input(event_display.week_start(now, zone), zone)
    form = query.form
    base = replace(query.filter, since=None, before=None)
    settings = services.settings
    out: list[dict[str, Any]] = []
    async with services.pool.acquire() as conn:
        for key, label in PRESETS:
            if key == "week":
                since, before = event_display.week_start(now, zone).astimezone(UTC), None
            else:
                since, before = browser_query.range_window(key, now, tz)
            count = await count_total(
                conn,
                replace(base, since=since, before=before),
                settings.api_count_cap,
                budget_ms=settings.api_count_budget_ms,
            )
            if key == "week":
                href = query.url(range="custom", dateFrom=week_from, dateTo="")
                active = form["range"] == "custom" and form["dateFrom"] == week_from
                active = active and not form["dateTo"]
            else:
                href = query.url(range=key)
                active = form["range"] == key
            out.append(
                {
                    "key": key or "any",
                    "label": label,
                    "href": href,
                    "count": count_text(count),
                    "active": active,
                }
            )
    return Response(out, headers={"Cache-Control": "no-store"})


# Admin pages: registered on the UI's router (its session and CSRF middleware, app.py).
UI_LIVE_ROUTES = [browser_stream, lead_stream, lead_recent, time_presets]
