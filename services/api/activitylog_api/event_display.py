"""How the admin UI shows an event beyond its category, for the templates to call.

- A colour and an icon per event type: a failure, a cancellation, an opt-out or a tripped
  circuit breaker is red whatever its category; each type has its own icon.
- Type-specific details: a booking's time and meeting (metadata `startTime`, `eventUri`),
  a status change's from → to (metadata `from`, `to`), a reply's text.
- Reply threads on the lead timeline: a reply sits under the message its metadata names
  (`inReplyTo`, docs/CONTRACT.md §1); without one, under the latest message sent to its
  lead before it within 24 hours; with how long the lead took to answer ("1 h 27 min
  later").
- High-activity days: a day of the timeline with at least BUSY_DAY_EVENTS events.

`install` registers these as Jinja globals of the UI's template environment (app.py).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from litestar.template.config import TemplateConfig

from activitylog.contract.taxonomy import Category
from activitylog.contract.tracking_plan import REPORTS

# -- colour and icon per type ---------------------------------------------------------------

RED = "#dc2626"
# Each type's icon (a symbol of _icons.html) and, where the category's colour would
# mislead, its own colour.
TYPE_ICONS: dict[str, str] = {
    "MESSAGE_SENT": "send",
    "MESSAGE_FAILED": "x-circle",
    "MESSAGE_DELIVERED": "check-circle",
    "INBOUND_REPLY": "reply",
    "LINK_CLICKED": "link",
    "OPT_OUT": "slash",
    "CAMPAIGN_ENROLLED": "user-plus",
    "CAMPAIGN_REMOVED": "user-minus",
    "CAMPAIGN_COMPLETED": "flag",
    "BOOKING_CONFIRMED": "calendar",
    "BOOKING_CANCELLED": "calendar-x",
    "BOOKING_RESCHEDULED": "calendar-clock",
    "STATUS_CHANGED": "shuffle",
    "NOTE_ADDED": "note",
    "LEAD_CLAIMED": "hand",
    "AI_RESPONSE_SENT": "bot",
    "QUALIFYING_QUESTION_ASKED": "help",
    "QUALIFYING_ANSWER_CAPTURED": "check-square",
    "NURTURE_SCHEDULED": "clock",
    "CIRCUIT_BREAKER_TRIGGERED": "zap-off",
    "CONVERSATION_ESCALATED": "alert",
    "ENRICHMENT_COMPLETED": "database",
    "ICP_SCORE_UPDATED": "gauge",
    "BULK_IMPORT": "upload",
}
TYPE_COLOURS: dict[str, str] = {
    "MESSAGE_FAILED": RED,
    "BOOKING_CANCELLED": RED,
    "OPT_OUT": RED,
    "CIRCUIT_BREAKER_TRIGGERED": RED,
}


@dataclass(frozen=True, slots=True)
class TypeStyle:
    hex: str
    icon: str
    label: str  # the category's name, for the icon's title


def type_style(event: Any) -> TypeStyle:
    """The colour and icon of `event` (an EventView): its type's, else its category's."""
    style = event.style
    return TypeStyle(
        TYPE_COLOURS.get(event.event_type, style.hex),
        TYPE_ICONS.get(event.event_type, style.icon),
        style.label,
    )


# -- type-specific details -----------------------------------------------------------------

BOOKING_TYPES = frozenset({"BOOKING_CONFIRMED", "BOOKING_CANCELLED", "BOOKING_RESCHEDULED"})
REPLY_TYPES = frozenset({"INBOUND_REPLY", "OPT_OUT"})
# What counts as a message sent to a lead, for a reply to sit under.
OUTBOUND_TYPES = ("MESSAGE_SENT", "AI_RESPONSE_SENT", "QUALIFYING_QUESTION_ASKED")
THREAD_WINDOW = timedelta(hours=24)
# A message's later facts (the tracking plan's reports), shown under the send they report on.
REPORT_TYPES = frozenset(t.value for t in REPORTS)


@dataclass(frozen=True, slots=True)
class Details:
    """What a row shows for its type (empty for types with nothing special)."""

    kind: str = ""  # booking, status, reply
    start: datetime | None = None  # a booking's meeting
    start_text: str = ""
    meeting_uri: str | None = None
    status_from: str | None = None
    status_to: str | None = None
    reply_text: str | None = None


def _metadata(event: Any) -> dict[str, Any]:
    try:
        stored = orjson.loads(event.json)
    except orjson.JSONDecodeError:
        return {}
    metadata = stored.get("metadata") if isinstance(stored, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def _first_text(metadata: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and value != "":
            return str(value)
    return None


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def meeting_time(value: datetime, zone: str) -> str:
    """ "Tue 3 Mar 2026, 10:00 EST" in the admin's zone."""
    local = value.astimezone(_zone(zone))
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {local.tzname() or zone}"


def event_details(event: Any, zone: str = "UTC") -> Details:
    """The details `event` (an EventView) shows for its type."""
    kind = event.event_type
    if kind in BOOKING_TYPES:
        metadata = _metadata(event)
        start = _time(_first_text(metadata, "startTime", "start_time"))
        uri = _first_text(metadata, "eventUri", "event_uri", "calendly_event_uri")
        if start is None and uri is None:
            return Details()
        return Details(
            "booking",
            start=start,
            start_text=meeting_time(start, zone) if start else "",
            meeting_uri=uri if uri and uri.startswith(("https://", "http://")) else None,
        )
    if kind == "STATUS_CHANGED":
        metadata = _metadata(event)
        before = _first_text(metadata, "from", "from_status", "previousStatus")
        after = _first_text(metadata, "to", "to_status", "newStatus")
        if before is None and after is None:
            return Details()
        return Details("status", status_from=before, status_to=after)
    if kind in REPLY_TYPES and (event.message or event.description):
        return Details("reply", reply_text=event.message or event.description)
    return Details()


def copy_text(event: Any) -> str:
    """The event as a person would paste it into a ticket or a chat."""
    when = event.timestamp.astimezone(UTC)
    lines = [f"{event.label} · {event.lead_name} · {when:%Y-%m-%d %H:%M:%S} UTC", event.description]
    if event.message and event.message != event.description:
        lines.append(event.message)
    source = event.source + (f" (execution {event.execution_id})" if event.execution_id else "")
    lines.append(f"Source: {source}")
    return "\n".join(lines)


# -- threads, response times and busy days on the lead timeline ----------------------------


def response_text(seconds: float) -> str:
    """ "45 s", "12 min", "1 h 27 min", "2 d 3 h": how long a lead took to answer."""
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@dataclass(frozen=True, slots=True)
class Busy:
    """A high-activity day: its date (in the admin's zone) and how many events it holds."""

    day: date
    count: int

    @property
    def text(self) -> str:
        return f"High activity: {self.count} events on {self.day:%A} {self.day.day} {self.day:%B}"


@dataclass(frozen=True, slots=True)
class ThreadRow:
    event: Any  # EventView
    reply: bool = False  # under the message it answers
    parent: uuid.UUID | None = None
    after: str | None = None  # how long after that message: "1 h 27 min"
    busy: Busy | None = None  # the first row shown of a high-activity day


@dataclass(frozen=True, slots=True)
class DayGroup:
    key: str
    title: str
    rows: list[ThreadRow] = field(default_factory=list)


BUSY_DAY_EVENTS = 10


def thread_parents(events: Sequence[Any]) -> dict[uuid.UUID, Any]:
    """Each threaded event's parent among `events` (one lead's, any order): the message its
    `inReplyTo` names (its event id or message id); a delivery, failure or click, the send
    of its message; else, for a reply, the latest message sent before it within
    THREAD_WINDOW. An `inReplyTo` naming something not shown is never second-guessed."""
    by_ref: dict[str, Any] = {}
    sends: dict[str, Any] = {}
    for event in events:
        by_ref[str(event.id)] = event
    for event in events:
        if event.message_ref:
            by_ref.setdefault(event.message_ref, event)
            if event.event_type == "MESSAGE_SENT":
                sends.setdefault(event.message_ref, event)
    outbound = sorted(
        (e for e in events if e.event_type in OUTBOUND_TYPES),
        key=lambda e: (e.timestamp, str(e.id)),
    )
    parents: dict[uuid.UUID, Any] = {}
    for event in events:
        if event.reply_to:
            parent = by_ref.get(event.reply_to)
        elif event.event_type in REPORT_TYPES and event.message_ref:
            parent = sends.get(event.message_ref)
        elif event.event_type in REPLY_TYPES:
            parent = None
            for candidate in reversed(outbound):
                if candidate.timestamp < event.timestamp:
                    if event.timestamp - candidate.timestamp <= THREAD_WINDOW:
                        parent = candidate
                    break
        else:
            parent = None
        if parent is not None and parent.id != event.id:
            parents[event.id] = parent
    return parents


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


def thread_days(
    page: Iterable[Any], zone: str = "UTC", now: datetime | None = None
) -> list[DayGroup]:
    """The lead page's events (its handler's `events`) in day groups, threaded and marked:
    replies under their messages with their response times, reports under their sends,
    high-activity days flagged."""
    from activitylog_api.ui.lead_page import day_group  # the page's own group names

    events = list(page)
    events.sort(key=lambda e: (e.timestamp, str(e.id)), reverse=True)
    tz = _zone(zone)
    today = (now or datetime.now(UTC)).astimezone(tz).date()
    parents = thread_parents(events)
    children: dict[uuid.UUID, list[Any]] = {}
    for event in events:
        if event.id in parents:
            children.setdefault(parents[event.id].id, []).append(event)
    per_day = Counter(e.timestamp.astimezone(tz).date() for e in events)
    busy_days = {d for d, n in per_day.items() if n >= BUSY_DAY_EVENTS}
    marked: set[date] = set()
    groups: list[DayGroup] = []
    seen: set[uuid.UUID] = set()

    def add(event: Any, parent: Any | None, depth: int) -> None:
        if event.id in seen:
            return
        seen.add(event.id)
        local_day = event.timestamp.astimezone(tz).date()
        if parent is None:
            key, title = day_group(local_day, today)
            if not groups or groups[-1].key != key:
                groups.append(DayGroup(key, title))
        busy = None
        if local_day in busy_days and local_day not in marked and parent is None:
            marked.add(local_day)
            busy = Busy(local_day, per_day[local_day])
        after = (
            response_text((event.timestamp - parent.timestamp).total_seconds())
            if parent is not None
            else None
        )
        groups[-1].rows.append(
            ThreadRow(event, parent is not None, parent.id if parent else None, after, busy)
        )
        if depth < 8:  # metadata may claim a cycle; a thread is shown a few levels deep
            for child in reversed(children.get(event.id, [])):  # the oldest reply first
                add(child, event, depth + 1)

    for event in events:
        if event.id not in parents:
            add(event, None, 0)
    for event in events:  # a cycle's members, shown on their own
        if event.id not in seen:
            add(event, None, 0)
    return groups


# -- the activity browser's time presets -------------------------------------------------------


def week_start(now: datetime, zone: str) -> datetime:
    """Monday 00:00 of `now`'s week in `zone` (the "This week" preset's start)."""
    tz = _zone(zone)
    today = now.astimezone(tz).date()
    return datetime.combine(today - timedelta(days=today.weekday()), time(), tz)


# -- registration ------------------------------------------------------------------------------

GLOBALS: dict[str, Any] = {
    "categories": [c.value for c in Category],
    "type_style": type_style,
    "event_details": event_details,
    "copy_text": copy_text,
    "thread_days": thread_days,
    "week_start": week_start,
}


def install(config: TemplateConfig[Any]) -> TemplateConfig[Any]:
    """Add the helpers above to the UI's Jinja environment (the config `template_config`
    made); returns the config."""
    engine = config.instance
    if engine is None:
        raise ValueError("the template config has no engine instance")
    engine.engine.globals.update(GLOBALS)  # type: ignore[attr-defined]
    return config
