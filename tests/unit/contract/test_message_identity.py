"""The id rule covers the whole event, and a provider's SMS fact takes its id from its
message; the tracking plan checks the keys it knows (docs/CONTRACT.md §1.1, §3). Pure."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activitylog.contract.events import InvalidEvent, parse_event
from activitylog.contract.identity import EVENT_ID_NAMESPACE, AcceptedEvent, derive_event_id
from activitylog.contract.references import e164, phone_key
from activitylog.contract.taxonomy import EventType

BASE: dict[str, Any] = {
    "eventType": "STATUS_CHANGED",
    "leadAirtableId": "recAbc123XYZ4567",
    "description": "Status: New -> Contacted",
    "source": "n8n:wf-status",
    "executionId": "exec-42",
    "timestamp": "2026-03-01T10:00:00Z",
}


def event_id(body: dict[str, Any], **kwargs: Any) -> uuid.UUID:
    return derive_event_id(parse_event(body), **kwargs)


def test_two_status_changes_of_one_execution_are_two_events() -> None:
    """The probe's case: same lead, source, executionId and timestamp, other description."""
    first = event_id(BASE)
    second = event_id({**BASE, "description": "Status: Contacted -> Qualified"})
    assert first != second
    assert event_id(dict(BASE)) == first  # a true re-send is one event


def test_two_notes_without_timestamp_that_differ_only_in_created_by() -> None:
    note = {**BASE, "eventType": "NOTE_ADDED", "source": "ui:add-note", "timestamp": None}
    note = {k: v for k, v in note.items() if v is not None}
    a = event_id({**note, "createdBy": str(uuid.uuid4())})
    b = event_id({**note, "createdBy": str(uuid.uuid4())})
    assert a != b
    c = event_id({**note, "clientId": str(uuid.uuid4())})
    assert c not in (a, b)


# Fields a producer may send, each with values that differ; the id must tell them apart.
_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "eventType": st.sampled_from(["NOTE_ADDED", "STATUS_CHANGED", "LEAD_CLAIMED"]),
    "leadAirtableId": st.from_regex(r"rec[A-Za-z0-9]{3,12}", fullmatch=True),
    "leadId": st.uuids().map(str),
    "clientId": st.uuids().map(str),
    "createdBy": st.uuids().map(str),
    "description": st.text(min_size=1, max_size=40).filter(lambda t: t.strip() == t and t),
    "messageContent": st.text(max_size=40).filter(lambda t: t.strip() == t),
    "metadata": st.dictionaries(
        st.sampled_from(["a", "b", "note"]), st.integers() | st.text(max_size=8), max_size=3
    ),
    "source": st.sampled_from(["n8n:wf1", "n8n:wf2", "ui:add-note", "system:x"]),
    "executionId": st.text(min_size=1, max_size=12).filter(lambda t: t.strip() == t and t),
    "timestamp": st.integers(0, 4_000_000_000),
}


@st.composite
def event_pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    body = {
        "eventType": "NOTE_ADDED",
        "leadAirtableId": "recAbc123XYZ4567",
        "description": "note",
        "source": "ui:add-note",
        "executionId": "e1",
    }
    for name in draw(st.sets(st.sampled_from(sorted(_FIELDS)), max_size=5)):
        body[name] = draw(_FIELDS[name])
    name = draw(st.sampled_from(sorted(_FIELDS)))
    other = dict(body)
    other[name] = draw(_FIELDS[name].filter(lambda v: v != body.get(name)))
    return body, other


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(event_pairs())
def test_events_differing_in_any_field_get_different_ids(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    a, b = pair
    try:
        ea, eb = parse_event(a), parse_event(b)
    except InvalidEvent:
        return  # a drawn value the contract refuses is no event to identify
    if ea == eb:
        return  # two spellings of one event (e.g. the same instant) are one event
    assert derive_event_id(ea) != derive_event_id(eb)
    assert derive_event_id(ea) == derive_event_id(parse_event(dict(a)))


SEND: dict[str, Any] = {
    "eventType": "MESSAGE_SENT",
    "leadAirtableId": "recAbc123XYZ4567",
    "description": "SMS sent",
    "source": "n8n:wf-sms",
    "executionId": "8812",
    "timestamp": "2026-03-01T10:00:00Z",
    "metadata": {"provider": "simpletexting", "messageId": "64f1c0a9", "campaignId": "spring"},
}


def test_an_sms_fact_takes_its_id_from_provider_message_and_type() -> None:
    expected = uuid.uuid5(EVENT_ID_NAMESPACE, "sms:simpletexting:64f1c0a9:MESSAGE_SENT")
    assert event_id(SEND) == expected
    # Whatever else differs (another execution, the backfill's source and time), one send.
    backfilled = {**SEND, "source": "system:sms-audit-backfill", "executionId": None}
    backfilled = {k: v for k, v in backfilled.items() if v is not None}
    assert event_id(backfilled) == expected
    # It wins over an Idempotency-Key, so the template's retries and the backfill agree.
    assert event_id(SEND, idempotency_key="exec-8812-0") == expected
    # An explicit eventId is still the producer's word.
    given = uuid.uuid4()
    assert event_id({**SEND, "eventId": str(given)}) == given
    delivered = {**SEND, "eventType": "MESSAGE_DELIVERED", "description": "SMS delivered"}
    assert event_id(delivered) == uuid.uuid5(
        EVENT_ID_NAMESPACE, "sms:simpletexting:64f1c0a9:MESSAGE_DELIVERED"
    )


def test_prd_spellings_are_stored_in_the_plans_form() -> None:
    event = parse_event(
        {
            **SEND,
            "metadata": {
                "campaign_id": "chatgpt_use_cases",
                "simpletexting_id": "64f1c0a9",
                "phone": "4085550001",
                "extra": {"kept": True},
            },
        }
    )
    assert event.metadata == {
        "campaignId": "chatgpt_use_cases",
        "messageId": "64f1c0a9",
        "provider": "simpletexting",
        "phone": "+14085550001",
        "extra": {"kept": True},
    }
    assert derive_event_id(event) == event_id(SEND)


@pytest.mark.parametrize(
    ("metadata", "field", "words"),
    [
        ({"phone": "12345"}, "metadata.phone", "not a phone number"),
        ({"messageId": "abc"}, "metadata.provider", "required with metadata.messageId"),
        ({"provider": "simpletexting", "messageId": ""}, "metadata.messageId", "blank"),
        ({"campaignId": ["a"]}, "metadata.campaignId", "must be a string"),
        ({"campaign_id": 5}, "metadata.campaign_id", "must be a string"),
        ({"simpletexting_id": ""}, "metadata.simpletexting_id", "blank"),
        ({"campaign_id": "a", "campaignId": "b"}, "metadata.campaignId", "different values"),
    ],
)
def test_a_bad_known_key_is_named(metadata: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidEvent) as exc:
        parse_event({**SEND, "metadata": metadata})
    assert [(e.field, words in e.message) for e in exc.value.errors] == [(field, True)]


def test_booking_and_status_keys() -> None:
    booking = parse_event(
        {
            **BASE,
            "eventType": "BOOKING_CONFIRMED",
            "metadata": {"start_time": "2026-03-02T15:00:00-05:00", "eventUri": "https://x/e/1"},
        }
    )
    assert booking.metadata == {"startTime": "2026-03-02T20:00:00Z", "eventUri": "https://x/e/1"}
    with pytest.raises(InvalidEvent) as exc:
        parse_event({**BASE, "eventType": "BOOKING_CONFIRMED", "metadata": {"startTime": "soon"}})
    assert exc.value.errors[0].field == "metadata.startTime"
    change = parse_event({**BASE, "metadata": {"from": "New", "to": "Contacted"}})
    assert change.metadata == {"from": "New", "to": "Contacted"}


def test_lead_by_phone_email_or_message() -> None:
    by_phone = parse_event({**SEND, "leadAirtableId": None, "leadPhone": "(408) 555-0001"} | {})
    assert by_phone.lead_phone == "+14085550001"
    by_email = parse_event(
        {k: v for k, v in SEND.items() if k != "leadAirtableId"} | {"leadEmail": "Sam@X.com"}
    )
    assert by_email.lead_email == "sam@x.com"
    report = {k: v for k, v in SEND.items() if k != "leadAirtableId"}
    delivered = parse_event({**report, "eventType": "MESSAGE_DELIVERED"})
    assert delivered.message is not None
    assert delivered.message.key == "simpletexting:64f1c0a9"
    # A send cannot name itself: it needs a lead.
    with pytest.raises(InvalidEvent) as exc:
        parse_event(report)
    assert exc.value.errors[0].field == "leadAirtableId"
    accepted = AcceptedEvent.accept(delivered, received_at=delivered.timestamp, origin="", raw="")  # type: ignore[arg-type]
    assert accepted.lead_reference == "message simpletexting:64f1c0a9"


@given(st.from_regex(r"[2-9]\d{9}", fullmatch=True), st.sampled_from(["", "1", "+1", "+1 "]))
def test_phones_normalise_one_way(digits: str, prefix: str) -> None:
    dashed = f"{prefix}({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    assert e164(prefix + digits) == e164(dashed) == "+1" + digits
    assert phone_key(prefix + digits) == "1" + digits


def test_international_numbers_keep_their_country() -> None:
    assert e164("+44 20 7946 0958") == "+442079460958"
    with pytest.raises(ValueError, match="not a phone number"):
        e164("442079460958")  # without + it is ambiguous
    assert EventType.MESSAGE_SENT.value == "MESSAGE_SENT"


def test_the_contract_documents_the_tracking_plan_as_it_is() -> None:
    from pathlib import Path

    from activitylog.contract.tracking_plan import plan_table

    doc = (Path(__file__).parents[3] / "docs" / "CONTRACT.md").read_text()
    missing = [row for row in plan_table() if row not in doc]
    assert missing == [], "docs/CONTRACT.md §1.1 differs from the tracking plan"
