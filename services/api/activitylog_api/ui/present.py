"""Rows → what the templates show: labels, lead names, snippets, times (Jinja filters too)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import asyncpg
import orjson

from activitylog.contract.taxonomy import (
    CATEGORY_STYLE,
    LABEL_OF,
    Category,
    CategoryStyle,
    EventType,
)
from activitylog.contract.times import aware_timestamp, iso
from activitylog.domain.reads.rows import StoredEvent, event_json
from activitylog_api.ui.highlight import mark
from activitylog_api.views import typed_event

SNIPPET_CHARS = 160
_UNKNOWN_STYLE = CategoryStyle("Other", "grey", "#6b7280", "gear")


def style_of(category: str) -> CategoryStyle:
    try:
        return CATEGORY_STYLE[Category(category)]
    except ValueError:
        return _UNKNOWN_STYLE


def label_of(event_type: str) -> str:
    try:
        return LABEL_OF[EventType(event_type)]
    except ValueError:
        return event_type.replace("_", " ").title()


def _first(metadata: dict[str, Any] | None, *keys: str) -> str | None:
    if not isinstance(metadata, dict):
        return None
    for key in keys:
        value = metadata.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def pretty_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


@dataclass(frozen=True, slots=True)
class EventView:
    """One event as a row of the browser or the timeline."""

    id: uuid.UUID
    timestamp: datetime
    event_type: str
    label: str
    category: str
    style: CategoryStyle
    lead_id: uuid.UUID
    lead_name: str
    lead_email: str | None
    lead_airtable_id: str | None
    description: str
    message: str | None
    snippet: str
    campaign: str | None
    phone: str | None
    source: str
    execution_id: str | None
    metadata_pretty: str | None
    json: str = "{}"  # the stored event, as "Copy JSON" gives it (the API's spelling)
    created_by: uuid.UUID | None = None  # the portal user behind a UI action
    n8n_path: str | None = None  # workflow/<id>/executions/<executionId> under N8N_BASE_URL
    message_ref: str | None = None  # what a reply's metadata names to say what it answers
    reply_to: str | None = None

    @property
    def by(self) -> str | None:
        """ "By: …" of an event a portal user made (None: none named)."""
        return by_text(self.created_by)

    @property
    def by_url(self) -> str | None:
        return by_url(self.created_by)


# Metadata keys that link a reply to the message it answers (its event id or message id).
REPLY_KEYS = ("inReplyTo", "in_reply_to", "replyTo", "reply_to", "parentEventId")
MESSAGE_KEYS = ("messageId", "message_id", "messageSid", "message_sid")


def n8n_path(source: str, execution_id: str | None) -> str | None:
    """The execution's path in the n8n editor, for an n8n source with an execution id."""
    kind, _, workflow = source.partition(":")
    if kind != "n8n" or not workflow or not execution_id:
        return None
    return f"workflow/{quote(workflow, safe='')}/executions/{quote(execution_id, safe='')}"


def stored_json(event: StoredEvent) -> str:
    """The event as stored, spelt as every API read spells it, indented for reading."""
    return pretty_json(event_json(event))


def by_text(created_by: uuid.UUID | None) -> str | None:
    """ "By: …", the short form of the user behind an event (the whole id is in its title)."""
    return f"By: {str(created_by)[:8]}…" if created_by is not None else None


def by_url(created_by: uuid.UUID | None) -> str | None:
    """The browser showing every event of the user behind this one."""
    if created_by is None:
        return None
    return f"/admin/activity-logs?{urlencode({'createdBy': str(created_by)})}"


def event_view(event: StoredEvent | asyncpg.Record, lead_name: str | None = None) -> EventView:
    """A read's event (or a row of the log's columns, a live stream's) as a row: its lead's
    name from `event.lead`, else `lead_name`."""
    event = typed_event(event)
    metadata = event.metadata
    lead = event.lead
    return EventView(
        id=event.id,
        timestamp=aware_timestamp(event.timestamp),
        event_type=event.event_type,
        label=label_of(event.event_type),
        category=event.category,
        style=style_of(event.category),
        lead_id=event.lead_id,
        lead_name=lead.display_name if lead is not None else (lead_name or ""),
        lead_email=lead.email if lead is not None else None,
        lead_airtable_id=event.lead_airtable_id,
        description=event.description,
        message=event.message_content,
        snippet=snippet(event.message_content or event.description),
        campaign=_first(metadata, "campaign_name", "campaignId", "campaign_id", "campaign"),
        phone=_first(metadata, "phone", "to", "phone_number", "phoneNumber"),
        source=event.source,
        execution_id=event.execution_id,
        metadata_pretty=pretty_json(metadata) if metadata not in (None, {}) else None,
        json=stored_json(event),
        created_by=event.created_by,
        n8n_path=n8n_path(event.source, event.execution_id),
        message_ref=_first(metadata, *MESSAGE_KEYS),
        reply_to=_first(metadata, *REPLY_KEYS),
    )


# -- Jinja filters ----------------------------------------------------------------------


def relative(value: datetime | None, now: datetime | None = None) -> str:
    """ "3 min ago", "in 2 h", "yesterday"-style text; exact time goes in the title."""
    if value is None:
        return "—"
    now = now or datetime.now(UTC)
    seconds = (now - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        text = "just now" if not future else "in a few seconds"
        return text
    for limit, unit, size in (
        (3_600, "min", 60),
        (86_400, "h", 3_600),
        (86_400 * 30, "d", 86_400),
        (86_400 * 365, "mo", 86_400 * 30),
    ):
        if seconds < limit:
            amount = max(round(seconds / size), 1)
            return f"in {amount} {unit}" if future else f"{amount} {unit} ago"
    years = round(seconds / (86_400 * 365))
    return f"in {years} y" if future else f"{years} y ago"


def exact_time(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_time(value: datetime | None) -> str:
    return iso(value) or ""


def number(value: int | float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3_600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3_600:.1f} h"


# A page shows this much of a payload; the rest is one click away in the raw view.
PAYLOAD_SHOWN_CHARS = 20_000


def pretty_payload(text: str) -> str:
    """A retry-queue payload: indented if it is JSON, as received otherwise; cut if long.

    A payload is whatever a producer sent, so no failure to indent it may fail the page
    (orjson refuses to write, for one, what nests deeper than 254 levels).
    """
    try:
        shown = pretty_json(orjson.loads(text)) if len(text) <= PAYLOAD_SHOWN_CHARS else text
    except Exception:
        shown = text
    if len(shown) > PAYLOAD_SHOWN_CHARS:
        return shown[:PAYLOAD_SHOWN_CHARS] + f"\n… cut at {PAYLOAD_SHOWN_CHARS:,} characters"
    return shown


FILTERS = {
    "relative": relative,
    "exacttime": exact_time,
    "isotime": iso_time,
    "num": number,
    "duration": duration,
    "prettyjson": pretty_payload,
    "mark": mark,
}
