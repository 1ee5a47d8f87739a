"""The batch store's rules, decided in pure code (domain.batch): no database here."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from activitylog.contract.events import parse_event
from activitylog.contract.identity import AcceptedEvent, message_fact_id
from activitylog.domain import batch
from activitylog.domain.dead_letters import RetryStatus
from activitylog.domain.records import LeadRef, StoredFact

NOW = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
CLIENT_A, CLIENT_B = uuid.uuid4(), uuid.uuid4()
LEAD = LeadRef(uuid.uuid4(), "recKnown0001", CLIENT_A)
STUB = LeadRef(uuid.uuid4(), "recStub00001", None)


def accepted(n: int, **fields: Any) -> AcceptedEvent:
    body = {
        "eventType": "NOTE_ADDED",
        "description": f"note {n}",
        "source": "ui:add-note",
        "timestamp": "2026-03-01T09:00:00Z",
        **fields,
    }
    body = {k: v for k, v in body.items() if v is not None}
    return AcceptedEvent.accept(
        parse_event(body), received_at=NOW, origin=f"o-{n}", raw=orjson.dumps(body).decode()
    )


def plan(events: list[AcceptedEvent], found: batch.Found) -> batch.Placement:
    return batch.place(events, found, now=NOW, pending_delay=timedelta(minutes=1))


def test_stubs_are_wanted_once_with_the_first_client_and_uuid() -> None:
    portal_id = uuid.uuid4()
    events = [
        accepted(1, leadAirtableId="recNew000001"),
        accepted(2, leadAirtableId="recNew000001", clientId=str(CLIENT_B), leadId=str(portal_id)),
        accepted(3, leadAirtableId="recKnown0001", leadId=str(LEAD.id)),
    ]
    assert batch.stubs_wanted(events, {LEAD.id: LEAD}) == [("recNew000001", CLIENT_B, portal_id)]


def test_an_event_lands_on_its_lead_in_the_contracts_order() -> None:
    by_phone = {"14085550001": [LEAD]}
    found = batch.Found({LEAD.id: LEAD}, {"recStub00001": STUB}, by_phone)
    events = [
        accepted(1, leadId=str(LEAD.id), leadAirtableId="recStub00001"),  # the id wins
        accepted(2, leadAirtableId="recStub00001", leadPhone="4085550001"),  # then Airtable
        accepted(3, leadPhone="(408) 555-0001"),  # then the phone
    ]
    placement = plan(events, found)
    assert [ref for _, ref in placement.placed] == [LEAD, STUB, LEAD]
    assert placement.letters == []


def test_nothing_matches_so_it_waits_with_its_reason_and_keys() -> None:
    lead_id = uuid.uuid4()
    placement = plan(
        [accepted(1, leadId=str(lead_id)), accepted(2, leadEmail="x@y.com")], batch.Found({}, {})
    )
    assert placement.placed == []
    first, second = placement.letters
    assert (first.status, first.reason) == (
        RetryStatus.PENDING,
        f"lead {lead_id} does not exist (yet)",
    )
    assert first.waiting_for == (f"lead:{lead_id}",)
    assert first.next_retry_at == NOW + timedelta(minutes=1)
    assert (second.reason, second.waiting_for) == ("no lead with email x@y.com", ("email:x@y.com",))


def test_an_ambiguous_phone_is_never_guessed_and_waits_for_no_one() -> None:
    other = LeadRef(uuid.uuid4(), "recTwin00002", CLIENT_B)
    found = batch.Found({}, {}, {"14085550001": [LEAD, other]})
    (letter,) = plan([accepted(1, leadPhone="4085550001")], found).letters
    assert "matches 2 leads (recKnown0001, recTwin00002)" in letter.reason
    assert letter.waiting_for == ()
    # Naming its client narrows the choice to that client's lead.
    placement = plan([accepted(2, leadPhone="4085550001", clientId=str(CLIENT_B))], found)
    assert [ref for _, ref in placement.placed] == [other]


def sms(event_type: str, message_id: str, **fields: Any) -> AcceptedEvent:
    meta = {"provider": "simpletexting", "messageId": message_id, **fields.pop("meta", {})}
    return accepted(0, eventType=event_type, metadata=meta, **fields)


def test_a_report_takes_its_sends_lead_and_campaign_in_the_batch_or_stored() -> None:
    send = sms("MESSAGE_SENT", "m1", leadAirtableId="recKnown0001", meta={"campaignId": "c"})
    report = sms("MESSAGE_DELIVERED", "m1")  # names only its message
    found = batch.Found({}, {"recKnown0001": LEAD})
    placement = plan([report, send], found)  # the send is placed first whatever the order
    owners = {LEAD.id: LEAD.client_id}
    rows = batch.rows_to_write(placement, owners, set())
    by_type = {r.event_type: r for r in rows.rows}
    assert by_type["MESSAGE_DELIVERED"].lead_id == LEAD.id
    assert by_type["MESSAGE_DELIVERED"].metadata["campaignId"] == "c"

    stored = StoredFact(message_fact_id("simpletexting", "m2", "MESSAGE_SENT"), LEAD.id,
                        LEAD.airtable_record_id, CLIENT_A, "spring")  # fmt: skip
    later = plan([sms("LINK_CLICKED", "m2")], batch.Found({}, {}, sends={stored.id: stored}))
    (row,) = batch.rows_to_write(later, owners, set()).rows
    assert (row.lead_id, row.metadata["campaignId"]) == (LEAD.id, "spring")


def test_a_send_stored_after_its_reports_gives_them_its_campaign() -> None:
    send = sms("MESSAGE_SENT", "m3", leadAirtableId="recKnown0001", meta={"campaignId": "c"})
    campaigns = batch.MessageLinks([send]).campaigns_of_reports([send])
    failed_id = message_fact_id("simpletexting", "m3", "MESSAGE_FAILED")
    assert campaigns[failed_id] == "c"
    early = StoredFact(failed_id, LEAD.id, None, CLIENT_A, None)
    known = StoredFact(message_fact_id("simpletexting", "m3", "LINK_CLICKED"), LEAD.id, None,
                       CLIENT_A, "other")  # fmt: skip
    assert batch.MessageLinks.campaign_fills(campaigns, [early, known]) == {failed_id: "c"}
    assert batch.MessageLinks.arrived_keys([send]) == ["message:simpletexting:m3"]


def test_rows_refuse_a_contradicting_client_and_write_each_event_once() -> None:
    found = batch.Found({LEAD.id: LEAD}, {})
    same = accepted(1, leadId=str(LEAD.id))
    wrong = accepted(2, leadId=str(LEAD.id), clientId=str(CLIENT_B))
    earlier = accepted(3, leadId=str(LEAD.id), clientId=str(CLIENT_B))
    placement = plan([same, same, wrong, earlier], found)
    rows = batch.rows_to_write(placement, {LEAD.id: CLIENT_A}, already={earlier.id})
    assert [r.id for r in rows.rows] == [same.id]
    assert rows.rows[0].client_id == CLIENT_A
    (letter,) = rows.letters
    assert letter.status is RetryStatus.DEAD
    assert f"contradicts lead recKnown0001, which belongs to client {CLIENT_A}" in letter.reason
    assert rows.duplicates == {earlier.id}


def test_adoption_and_effects() -> None:
    found = batch.Found({STUB.id: STUB}, {})
    first = accepted(1, leadId=str(STUB.id), clientId=str(CLIENT_A))
    second = accepted(
        2, leadId=str(STUB.id), clientId=str(CLIENT_B), timestamp="2026-03-01T09:30:00Z"
    )
    placement = plan([first, second], found)
    assert batch.adoptions(placement.placed) == {STUB.id: CLIENT_A}
    rows = batch.rows_to_write(placement, {STUB.id: CLIENT_A}, set()).rows
    done = batch.effects(rows, {first.id}, NOW)  # the second was stored by another batch
    assert done.latest == {STUB.id: datetime(2026, 3, 1, 9, 0, tzinfo=UTC)}
    assert [c.event_type for c in done.counted] == ["NOTE_ADDED"]
    assert done.duplicates == set()  # it contradicted its lead's client: not a row at all


# -- lead saving (domain.leads.saving_plan) ---------------------------------------------------


def test_a_round_plans_each_item_and_defers_what_touches_a_lead_twice() -> None:
    from activitylog.domain.leads.identity import Action
    from activitylog.domain.leads.records import LeadInput
    from activitylog.domain.leads.saving_plan import (
        Outcome,
        StoredIdentity,
        first_pass,
        outcome,
        owners_to_move,
        plan_round,
    )

    stub = StoredIdentity(uuid.uuid4(), "recStub00001", None, True)
    portal = uuid.uuid4()
    other = StoredIdentity(uuid.uuid4(), "recOther0001", CLIENT_A, False)
    items = [
        LeadInput(portal, "recStub00001", {"first_name": "Sam"}),  # adopts the UUID
        LeadInput(None, "recStub00001", {"phone": "1"}),  # duplicate of the first
        LeadInput(other.id, "recNew000001", {}),  # the UUID belongs to another record
        LeadInput(None, "recFresh0001", {"client_id": CLIENT_B}),  # new
    ]
    todo, duplicates = first_pass(items)
    assert (todo, list(duplicates)) == ([0, 2, 3], [1])
    step = plan_round(items, todo, [stub, other])
    assert [(e.index, e.action) for e in step.planned] == [(0, Action.ADOPT), (3, Action.INSERT)]
    assert step.planned[0].adopted_from == stub.id
    assert step.planned[0].target == portal
    assert "belongs to Airtable record recOther0001, not recNew000001" in step.conflicts[2]
    assert outcome(step.planned[0], items[0], written=True) is Outcome.STUB_FILLED
    # The adopting lead had no client and gets one: its events follow.
    step.planned[0].old_clients = (None,)
    assert owners_to_move(step.planned[:1], {portal: CLIENT_B}) == {portal: CLIENT_B}
