"""Row → facts → events, without I/O: the export's quirks, ids, skips, times."""

from __future__ import annotations

import io
import uuid
from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from activitylog.contract.identity import EVENT_ID_NAMESPACE
from activitylog.domain.sms_audit.facts import SOURCE, Fact, SkipReason, event_key, map_row
from activitylog.domain.sms_audit.rows import SourceFormatError, from_portal, read_csv
from activitylog_testing.sms_audit import (
    EXPECTED,
    EXPECTED_SKIPPED,
    ROWS,
    airtable_csv,
    portal_record,
)

NEW_YORK = ZoneInfo("America/New_York")


def export_rows(data: bytes = b""):
    return list(read_csv(io.StringIO((data or airtable_csv()).decode("utf-8-sig"), newline="")))


def mapped(rows, tz=UTC):
    events, skips = [], []
    for row in rows:
        found, skipped = map_row(row, tz)
        events += found
        skips += skipped
    return events, skips


def test_the_export_reads_with_every_quirk() -> None:
    data = airtable_csv()
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data
    rows = export_rows(data)
    assert len(rows) == len(ROWS)
    first = rows[0]
    assert first.campaign_id == "st-1001"  # the header lost its BOM
    assert first.text == "Hi Sam,\nyour roof quote is ready: https://x.example/q"
    assert first.webhook_raw.splitlines()[1] == '  "type": "delivery_report",'
    assert "\r" not in first.webhook_raw
    assert first.clicked
    assert not rows[1].clicked
    assert rows[1].text == 'Reminder, "tomorrow" at 9, reply YES'
    assert rows[3].delivery_at is None  # a blank cell
    assert [r.where for r in rows[:2]] == ["line 2", "line 8"]  # multi-line cells count


def test_every_fact_becomes_its_event_and_bad_rows_are_skipped_with_a_reason() -> None:
    events, skips = mapped(export_rows())
    unique = {e.accepted.id: e for e in events}
    assert Counter(e.event_type.value for e in unique.values()) == EXPECTED
    assert len(events) - len(unique) == 1  # the Delivery Update row repeating a delivery
    assert Counter(s.reason.value for s in skips) == EXPECTED_SKIPPED
    by_where = {(s.where, s.fact): s for s in skips}
    assert by_where[("line 18", Fact.DELIVERY)].detail == "delivery: Delivery At is blank"
    assert by_where[("line 15", None)].reason is SkipReason.NO_LEAD
    assert "'Sam Smith'" in by_where[("line 15", None)].detail

    clicked = [e for e in events if e.message.message_id == "st-1001"]
    assert [e.event_type.value for e in clicked] == [
        "MESSAGE_SENT", "MESSAGE_DELIVERED", "LINK_CLICKED"
    ]  # fmt: skip
    sent, delivered, click = (e.accepted for e in clicked)
    assert sent.timestamp == datetime(2025, 11, 7, 15, 4, tzinfo=UTC)
    assert delivered.timestamp == datetime(2025, 11, 7, 15, 5, tzinfo=UTC)
    assert click.timestamp == datetime(2025, 11, 7, 15, 30, tzinfo=UTC)
    assert sent.event.source == SOURCE
    assert sent.event.lead_airtable_id == "recLead0001"
    assert sent.event.message_content == "Hi Sam,\nyour roof quote is ready: https://x.example/q"
    # Campaign ID is SimpleTexting's message id, never a campaign; the phone is E.164.
    assert sent.event.metadata == {
        "provider": "simpletexting", "messageId": "st-1001", "phone": "+15550001001",
        "status": "Clicked",
    }  # fmt: skip
    assert "campaignId" not in sent.event.metadata
    assert delivered.event.metadata["carrier"] == "Verizon"
    assert delivered.event.description == "SMS delivered (Verizon)"

    failed = {e.message.message_id: e.accepted for e in events if e.event_type == "MESSAGE_FAILED"}
    assert failed["st-1004"].event.description == "SMS failed to send"  # at Sent At
    assert failed["st-1004"].timestamp == datetime(2025, 11, 8, 11, 0, tzinfo=UTC)
    assert failed["st-1003"].event.description == "SMS undelivered (T-Mobile)"  # at Delivery At
    assert failed["st-1003"].timestamp == datetime(2025, 11, 8, 10, 2, tzinfo=UTC)


def test_ids_name_the_message_and_fact_so_both_sources_agree() -> None:
    from_csv, _ = mapped(export_rows())
    from_db, _ = mapped([from_portal(portal_record(r)) for r in ROWS])
    assert {e.accepted.id for e in from_csv} == {e.accepted.id for e in from_db}
    # The contract's UUIDv5 of an idempotency key, in the one namespace.

    # The id the API gives the same fact from a template: provider, message id and type.
    first = from_csv[0]
    assert first.accepted.id == uuid.uuid5(
        EVENT_ID_NAMESPACE, "sms:simpletexting:st-1001:MESSAGE_SENT"
    )
    # The id the backfill gave it before the tracking plan, so a re-run recognises it.
    assert first.legacy_id == uuid.uuid5(
        EVENT_ID_NAMESPACE, "idempotency-key:sms-audit:message:st-1001:15550001001:send"
    )
    # The replayable payload carries the settled id.
    assert f'"eventId":"{first.accepted.id}"' in first.accepted.raw


def test_a_delivery_row_without_its_lead_names_its_message() -> None:
    """The production delivery workflow writes its own row; a failed lookup leaves the Lead
    Record ID blank: the delivery still names its message (and the phone)."""
    events, _ = mapped(export_rows())
    (delivery,) = [
        e for e in events if e.message.message_id == "st-1005" and e.fact is Fact.DELIVERY
    ]
    assert delivery.accepted.event.lead_airtable_id is None
    assert delivery.accepted.event.lead_phone == "+15550001005"
    assert delivery.accepted.event.message is not None
    assert delivery.accepted.event.message.key == "simpletexting:st-1005"
    assert delivery.accepted.event.event_type == "MESSAGE_DELIVERED"


def test_without_campaign_id_the_record_id_names_the_message() -> None:
    record = portal_record(ROWS[4]) | {"sms_campaign_id": ""}
    (event,), _ = map_row(from_portal(record), UTC)
    (again,), _ = map_row(from_portal(record | {"text": "edited later"}), UTC)
    assert event.accepted.id == again.accepted.id
    key = event_key(from_portal(record), Fact.SEND)
    assert key == "sms-audit:record:recSms0005:send"
    assert event.accepted.id == uuid.uuid5(EVENT_ID_NAMESPACE, "idempotency-key:" + key)
    bare = from_portal(record | {"airtable_record_id": ""})
    assert map_row(bare, UTC)[1][0].reason is SkipReason.NO_MESSAGE_ID


def test_naive_display_times_are_in_the_given_zone() -> None:
    rows = export_rows()
    (sent, *_), _ = map_row(rows[0], NEW_YORK)
    assert sent.accepted.timestamp == datetime(2025, 11, 7, 20, 4, tzinfo=UTC)  # EST, UTC-5
    # An ISO time with its offset does not move.
    clicks = [e for e in map_row(rows[0], NEW_YORK)[0] if e.fact is Fact.CLICK]
    assert clicks[0].accepted.timestamp == datetime(2025, 11, 7, 15, 30, tzinfo=UTC)


def test_sms_campaign_id_header_and_missing_columns() -> None:
    data = airtable_csv().replace(b"Campaign ID", b"SMS Campaign ID", 1)
    assert export_rows(data)[0].campaign_id == "st-1001"
    with pytest.raises(SourceFormatError, match=r"missing column.*campaign_id"):
        export_rows("\ufeffEvent,Phone,Status,Lead Record ID\r\n".encode())


def test_an_event_the_contract_refuses_is_skipped_not_stored() -> None:
    record = portal_record(ROWS[4]) | {"text": "bad\x00text"}
    events, skips = map_row(from_portal(record), UTC)
    assert events == []
    assert skips[0].reason is SkipReason.INVALID_EVENT
    assert "NUL" in skips[0].detail


@settings(max_examples=100, deadline=None)  # a loaded machine must not fail it
@given(
    st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2035, 12, 31)).map(
        lambda d: d.replace(second=0, microsecond=0)
    ),
    st.sampled_from(
        ["%m/%d/%Y %I:%M%p", "%B %d, %Y %I:%M %p", "%m/%d/%Y %H:%M", "%Y-%m-%dT%H:%M:%S.000Z"]
    ),
)
def test_every_display_format_gives_the_same_instant(when: datetime, fmt: str) -> None:
    text = when.strftime(fmt)
    if "%p" in fmt:
        text = text.replace("AM", "am").replace("PM", "pm")
    row = from_portal(portal_record(ROWS[4]) | {"sent_at": None})
    row = type(row)(**{**{f: getattr(row, f) for f in row.__slots__}, "sent_at": text})
    (event,), _ = map_row(row, UTC)
    assert event.accepted.timestamp == when.replace(tzinfo=UTC)
