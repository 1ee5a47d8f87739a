"""Every rule of the event contract (docs/CONTRACT.md), and the event-id rule."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from activitylog.contract import references
from activitylog.contract.events import MAX_EVENT_BYTES, InvalidEvent, parse_event, parse_event_json
from activitylog.contract.identity import (
    EVENT_ID_NAMESPACE,
    AcceptedEvent,
    derive_event_id,
    product_uuid5,
)
from activitylog.contract.references import e164, phone_key
from activitylog.contract.taxonomy import CATEGORY_OF, CATEGORY_STYLE, LABEL_OF, Category, EventType

BASE = {
    "eventType": "MESSAGE_SENT",
    "leadAirtableId": "recAbc123XYZ4567",
    "description": "SMS sent",
    "source": "n8n:wf1",
}


def fields_of(exc: pytest.ExceptionInfo[InvalidEvent]) -> set[str]:
    return {e.field for e in exc.value.errors}


def invalid(**changes: object) -> pytest.ExceptionInfo[InvalidEvent]:
    body = {**BASE, **changes}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(InvalidEvent) as exc:
        parse_event(body)
    return exc


def test_taxonomy_has_the_24_types_of_the_spec_in_6_categories() -> None:
    # docs/CONTRACT.md §2 lists 24 types.
    assert len(EventType) == 24
    assert set(CATEGORY_OF.values()) == set(Category)
    assert all(LABEL_OF[t] for t in EventType)
    assert LABEL_OF[EventType.MESSAGE_SENT] == "Message Sent"
    assert CATEGORY_OF[EventType.BOOKING_RESCHEDULED] is Category.BOOKING
    assert CATEGORY_OF[EventType.LEAD_CLAIMED] is Category.MANUAL
    assert CATEGORY_OF[EventType.CIRCUIT_BREAKER_TRIGGERED] is Category.CONVERSATION
    assert CATEGORY_OF[EventType.BULK_IMPORT] is Category.SYSTEM
    colours = {c: CATEGORY_STYLE[c].colour for c in Category}
    assert colours == {
        Category.SMS: "blue",
        Category.CAMPAIGN: "purple",
        Category.BOOKING: "green",
        Category.CONVERSATION: "cyan",
        Category.MANUAL: "orange",
        Category.SYSTEM: "grey",
    }


@pytest.mark.parametrize("event_type", list(EventType))
def test_category_is_derived_from_every_type(event_type: EventType) -> None:
    event = parse_event({**BASE, "eventType": event_type.value})
    assert event.category is CATEGORY_OF[event_type]
    consistent = parse_event(
        {**BASE, "eventType": event_type.value, "eventCategory": CATEGORY_OF[event_type].value}
    )
    assert consistent.category is CATEGORY_OF[event_type]


def test_inconsistent_category_is_rejected_naming_the_field() -> None:
    exc = invalid(eventType="BOOKING_CONFIRMED", eventCategory="SMS")
    assert fields_of(exc) == {"eventCategory"}
    assert "BOOKING" in str(exc.value)


def test_unknown_category_is_rejected() -> None:
    assert fields_of(invalid(eventCategory="EMAIL")) == {"eventCategory"}


def test_unknown_type_lists_the_valid_types() -> None:
    exc = invalid(eventType="SMS_SENT")
    assert fields_of(exc) == {"eventType"}
    message = str(exc.value)
    assert "SMS_SENT" in message
    assert all(t.value in message for t in EventType)


def test_type_is_required() -> None:
    assert "eventType" in fields_of(invalid(eventType=None))


def test_lead_reference_required_unless_lead_id() -> None:
    assert fields_of(invalid(leadAirtableId=None)) == {"leadAirtableId"}
    event = parse_event({**BASE, "leadAirtableId": None, "leadId": str(uuid.uuid4())})
    assert event.lead_id is not None


@pytest.mark.parametrize(
    ("field", "value"),
    [("leadId", "not-a-uuid"), ("clientId", "42"), ("createdBy", "x"), ("eventId", "123")],
)
def test_uuid_fields_must_be_uuids(field: str, value: str) -> None:
    assert fields_of(invalid(**{field: value})) == {field}


def test_airtable_id_must_look_like_a_record_id() -> None:
    assert fields_of(invalid(leadAirtableId="lead-17")) == {"leadAirtableId"}


def test_description_required_and_at_most_2000_chars() -> None:
    assert fields_of(invalid(description=None)) == {"description"}
    assert fields_of(invalid(description="   ")) == {"description"}
    assert fields_of(invalid(description="d" * 2001)) == {"description"}
    assert len(parse_event({**BASE, "description": "d" * 2000}).description) == 2000


def test_message_content_at_most_20000_chars() -> None:
    assert fields_of(invalid(messageContent="m" * 20_001)) == {"messageContent"}
    assert parse_event({**BASE, "messageContent": "m" * 20_000}).message_content


def test_metadata_is_an_object_of_at_most_64_kib() -> None:
    assert fields_of(invalid(metadata=["a"])) == {"metadata"}
    assert fields_of(invalid(metadata={"blob": "x" * (64 * 1024)})) == {"metadata"}
    event = parse_event({**BASE, "metadata": {"campaign_id": "c1", "nested": {"a": [1, 2]}}})
    # A tracking-plan key is stored under its one name; the others as sent.
    assert event.metadata == {"campaignId": "c1", "nested": {"a": [1, 2]}}


@pytest.mark.parametrize("source", ["n8n:wf-1", "ui:claim_lead", "system:backfill"])
def test_valid_sources(source: str) -> None:
    assert parse_event({**BASE, "source": source}).source == source


@pytest.mark.parametrize("source", ["n8n", "zapier:x", "n8n:", "", "ui: "])
def test_invalid_sources(source: str) -> None:
    exc = invalid(source=source)
    assert fields_of(exc) == {"source"}


def test_source_required() -> None:
    assert fields_of(invalid(source=None)) == {"source"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"description": "bad\x00text"}, "description"),
        ({"messageContent": "hi\x00"}, "messageContent"),
        ({"metadata": {"phone": "+1\x00"}}, "metadata.phone"),
        ({"metadata": {"deep": [{"x": "\x00"}]}}, "metadata.deep[0].x"),
        ({"source": "n8n:\x00"}, "source"),
    ],
)
def test_nul_characters_are_rejected_naming_where(changes: dict[str, object], field: str) -> None:
    exc = invalid(**changes)
    assert fields_of(exc) == {field}
    assert "NUL" in str(exc.value)


def test_nul_escape_in_json_text_is_rejected_too() -> None:
    raw = orjson.dumps({**BASE, "description": "a"}).replace(b'"a"', b'"a\\u0000"')
    with pytest.raises(InvalidEvent, match="NUL"):
        parse_event_json(raw)


def test_whole_event_at_most_256_kib() -> None:
    big = {
        **BASE,
        "messageContent": "m" * 20_000,
        "metadata": {f"k{i}": "v" * 60_000 for i in range(5)},
    }
    raw = orjson.dumps(big)
    assert len(raw) > MAX_EVENT_BYTES
    with pytest.raises(InvalidEvent, match="limit"):
        parse_event_json(raw)


def test_not_json_and_not_an_object() -> None:
    with pytest.raises(InvalidEvent, match="not valid JSON"):
        parse_event_json(b"{nope")
    with pytest.raises(InvalidEvent, match="JSON object"):
        parse_event_json(b"[1, 2]")
    with pytest.raises(InvalidEvent, match="not valid JSON"):
        parse_event_json(b"\xff\xfe")


def test_unknown_fields_are_rejected_not_dropped() -> None:
    assert fields_of(invalid(campaignId="c1")) == {"campaignId"}


def test_timestamp_without_offset_is_utc_and_offsets_are_normalised() -> None:
    naive = parse_event({**BASE, "timestamp": "2026-03-01T10:00:00"})
    assert naive.timestamp == datetime(2026, 3, 1, 10, tzinfo=UTC)
    offset = parse_event({**BASE, "timestamp": "2026-03-01T12:00:00+02:00"})
    assert offset.timestamp == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert offset.timestamp is not None
    assert offset.timestamp.utcoffset() == timedelta(0)
    assert parse_event(BASE).timestamp is None
    assert fields_of(invalid(timestamp="yesterday")) == {"timestamp"}


def test_absent_timestamp_means_time_received() -> None:
    received = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    accepted = AcceptedEvent.accept(
        parse_event(BASE), received_at=received, origin="t", raw="{}", fallback_key="1-0"
    )
    assert accepted.timestamp == received


def test_camel_and_snake_case_are_equivalent() -> None:
    camel = parse_event(
        {
            **BASE,
            "messageContent": "hi",
            "executionId": "e1",
            "createdBy": "7d8b5a3e-5b53-4a55-9bd7-2f5a0c6c3c11",
        }
    )
    snake = parse_event(
        {
            "event_type": "MESSAGE_SENT",
            "lead_airtable_id": BASE["leadAirtableId"],
            "description": "SMS sent",
            "source": "n8n:wf1",
            "message_content": "hi",
            "execution_id": "e1",
            "created_by": "7d8b5a3e-5b53-4a55-9bd7-2f5a0c6c3c11",
        }
    )
    assert camel == snake


def test_several_errors_are_reported_together() -> None:
    exc = invalid(description=None, source="bad", leadId="x")
    assert {"description", "source", "leadId"} <= fields_of(exc)


# -- identity ---------------------------------------------------------------------------


def test_event_id_wins() -> None:
    given = uuid.uuid4()
    event = parse_event({**BASE, "eventId": str(given), "timestamp": "2026-01-01T00:00:00Z"})
    assert derive_event_id(event, idempotency_key="k", fallback_key="1-0") == given


def test_idempotency_key_gives_a_stable_v5() -> None:
    event = parse_event(BASE)
    first = derive_event_id(event, idempotency_key="order-17")
    assert first == derive_event_id(parse_event(BASE), idempotency_key="order-17")
    assert first.version == 5
    assert first != derive_event_id(event, idempotency_key="order-18")


def test_content_hash_when_timestamp_or_execution_id() -> None:
    with_ts = {**BASE, "timestamp": "2026-01-01T00:00:00Z", "metadata": {"a": 1, "b": 2}}
    same = {
        "event_type": "message_sent",
        "lead_airtable_id": BASE["leadAirtableId"],
        "description": BASE["description"],
        "source": "n8n:wf1",
        "timestamp": "2026-01-01T01:00:00+01:00",
        "metadata": {"b": 2, "a": 1},
    }
    first = derive_event_id(parse_event(with_ts))
    assert first.version == 5
    # The same event spelled another way (snake_case, an offset, key order) is one event...
    assert derive_event_id(parse_event(same)) == first
    # ...and every field counts: a different description is a different event.
    assert derive_event_id(parse_event({**same, "description": "another"})) != first
    assert derive_event_id(parse_event({**with_ts, "metadata": {"a": 2, "b": 2}})) != first
    assert derive_event_id(parse_event({**with_ts, "messageContent": "x"})) != first
    by_exec = parse_event({**BASE, "executionId": "exec-1"})
    assert derive_event_id(by_exec) == derive_event_id(
        parse_event({**BASE, "executionId": "exec-1"})
    )
    assert derive_event_id(by_exec) != derive_event_id(
        parse_event({**BASE, "executionId": "exec-2"})
    )


def test_content_hash_wins_over_the_delivery_key() -> None:
    event = parse_event({**BASE, "executionId": "exec-1"})
    assert derive_event_id(event, fallback_key="1-0") == derive_event_id(event, fallback_key="2-0")


def test_delivery_key_then_random() -> None:
    event = parse_event(BASE)
    assert derive_event_id(event, fallback_key="1700000000000-0") == derive_event_id(
        event, fallback_key="1700000000000-0"
    )
    first, second = derive_event_id(event), derive_event_id(event)
    assert first != second
    assert first.version == 4


def test_timezone_of_offset_does_not_change_identity() -> None:
    utc = parse_event({**BASE, "timestamp": "2026-05-05T05:05:05Z"})
    tz = timezone(timedelta(hours=-7))
    local = parse_event(
        {**BASE, "timestamp": datetime(2026, 5, 4, 22, 5, 5, tzinfo=tz).isoformat()}
    )
    assert derive_event_id(utc) == derive_event_id(local)


# -- the decode's shortcuts give the general rule's answers ------------------------------


def _nested_metadata(depth: int, *, lists: bool) -> object:
    """A value `depth` containers deep, alternating objects and lists when `lists`."""
    value: object = {}
    for level in range(depth - 1):
        value = [value] if lists and level % 2 else {"a": value}
    return value


@pytest.mark.parametrize("lists", [False, True])
def test_the_depth_limit_holds_on_either_side_of_the_text_shortcut(lists: bool) -> None:
    # metadata is level 1, so its key's value is at level 2: its innermost container sits at
    # level depth + 1, and the walk refuses a container past level 32.
    for depth, refused in ((30, False), (31, False), (32, True), (40, True)):
        raw = orjson.dumps({**BASE, "metadata": {"k": _nested_metadata(depth, lists=lists)}})
        if refused:
            with pytest.raises(InvalidEvent, match="levels deep"):
                parse_event_json(raw)
        else:
            parse_event_json(raw)
        # The same value given as data, not text, gets the same answer from the walk.
        data = orjson.loads(raw)
        if refused:
            with pytest.raises(InvalidEvent, match="levels deep"):
                parse_event(data)
        else:
            parse_event(data)


def test_brackets_inside_strings_only_cost_the_walk() -> None:
    text = "{[" * 40
    event = parse_event_json(orjson.dumps({**BASE, "description": text}))
    assert event.description == text


@given(st.text(max_size=300))
def test_the_product_uuid5_is_uuid5(name: str) -> None:
    assert product_uuid5(name) == uuid.uuid5(EVENT_ID_NAMESPACE, name)


@given(st.from_regex(r"\+?[0-9 ().-]{8,20}", fullmatch=True))
def test_the_e164_shortcut_gives_the_general_rule(text: str) -> None:
    general = "+" + phone_key(text) if references._PHONE_RE.fullmatch(text) else None
    try:
        assert e164(text) == general
    except ValueError:
        assert general is None
