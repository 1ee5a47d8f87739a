"""The lead page's threads as the page draws them (the template's thread_days over the
handler's events), pure: a report under its send, a reply under its message."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

from activitylog.contract.taxonomy import CATEGORY_STYLE, Category
from activitylog_api.event_display import thread_days
from activitylog_api.ui.present import EventView

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def view(minutes: int, event_type: str, **fields: object) -> EventView:
    base = EventView(
        id=uuid.uuid4(),
        timestamp=T0 + timedelta(minutes=minutes),
        event_type=event_type,
        label=event_type,
        category="SMS",
        style=CATEGORY_STYLE[Category.SMS],
        lead_id=uuid.uuid4(),
        lead_name="Sam",
        lead_email=None,
        lead_airtable_id="recLead0001",
        description=event_type,
        message=None,
        snippet="",
        campaign=None,
        phone=None,
        source="n8n:wf",
        execution_id=None,
        metadata_pretty=None,
    )
    return dataclasses.replace(base, **fields)


def test_a_delivery_and_a_click_sit_under_their_send_newest_first_elsewhere() -> None:
    send = view(0, "MESSAGE_SENT", message_ref="m1")
    other = view(1, "MESSAGE_SENT", message_ref="m2")
    delivered = view(2, "MESSAGE_DELIVERED", message_ref="m1")
    note = view(3, "NOTE_ADDED")
    clicked = view(4, "LINK_CLICKED", message_ref="m1")
    page = [clicked, note, delivered, other, send]  # newest first, as the page reads
    (day,) = thread_days(page, "UTC", now=T0)
    assert [(r.event.event_type, r.reply, r.parent) for r in day.rows] == [
        ("NOTE_ADDED", False, None),
        ("MESSAGE_SENT", False, None),
        ("MESSAGE_SENT", False, None),
        ("MESSAGE_DELIVERED", True, send.id),
        ("LINK_CLICKED", True, send.id),
    ]
    assert day.rows[1].event is other
    assert day.rows[2].event is send
    assert [r.after for r in day.rows[3:]] == ["2 min", "4 min"]


def test_a_report_whose_send_is_not_shown_stands_alone() -> None:
    delivered = view(2, "MESSAGE_DELIVERED", message_ref="m9")
    note = view(3, "NOTE_ADDED", message_ref="m9")  # names the message but reports nothing
    (day,) = thread_days([note, delivered], "UTC", now=T0)
    assert [(r.event.event_type, r.reply) for r in day.rows] == [
        ("NOTE_ADDED", False),
        ("MESSAGE_DELIVERED", False),
    ]
