"""Two different events are never one row, and one event sent twice is one, over the API and
raw XADD alike (docs/CONTRACT.md §3): the probe's cases, then Hypothesis's pairs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activitylog.contract.events import InvalidEvent, parse_event
from activitylog_testing.leads import add_lead
from activitylog_testing.streams import drain
from api_fixtures import *  # noqa: F403
from support import dumps

PATH = "/api/internal/log-activity"

STATUS = {
    "eventType": "STATUS_CHANGED",
    "description": "Status: New -> Contacted",
    "source": "n8n:wf-status",
    "executionId": "exec-42",
    "timestamp": "2026-03-01T10:00:00Z",
}


def _note(lead: str, description: str, source: str, execution_id: str) -> dict[str, Any]:
    """A note without a timestamp: its id is its content's (CONTRACT §3, rule 4)."""
    return {
        "eventType": "NOTE_ADDED",
        "leadAirtableId": lead,
        "description": description,
        "source": source,
        "executionId": execution_id,
    }


async def _rows(pool, airtable_id: str) -> list[Any]:
    return await pool.fetch(
        """SELECT a.id, a.description, a.created_by, a."timestamp" FROM lead_activity_log a
        JOIN leads l ON l.id = a.lead_id WHERE l.airtable_record_id = $1
        ORDER BY a.description""",
        airtable_id,
    )


async def test_two_status_changes_of_one_execution_are_two_rows(api, pool, ingest_key) -> None:
    await add_lead(pool, "recProbe000042a", "Pat")
    first = {**STATUS, "leadAirtableId": "recProbe000042a"}
    second = {**first, "description": "Status: Contacted -> Qualified"}
    async with api.client(ingest_key) as http:
        answers = [await http.post(PATH, json=body) for body in (first, second, first)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    ids = [a.json()["activityId"] for a in answers]
    assert ids[0] != ids[1]
    assert ids[2] == ids[0]  # the first again: a true re-send
    await drain(api.settings)
    rows = await _rows(pool, "recProbe000042a")
    assert [r["description"] for r in rows] == [second["description"], first["description"]]
    assert sorted(str(r["id"]) for r in rows) == sorted(ids[:2])


async def test_notes_that_differ_only_in_their_author_are_two_rows_on_the_stream(
    api, pool, redis
) -> None:
    await add_lead(pool, "recProbeNotes01", "Noa")
    note = _note("recProbeNotes01", "Called, no answer", "ui:add-note", "portal-7")
    authors = [str(uuid.uuid4()), str(uuid.uuid4())]
    stream = api.settings.activity_stream
    for author in [*authors, authors[0]]:
        await redis.xadd(stream, {"payload": dumps({**note, "createdBy": author})})
    await drain(api.settings)
    rows = await _rows(pool, "recProbeNotes01")
    assert sorted(str(r["created_by"]) for r in rows) == sorted(authors)


# What may differ between two events of one lead and leave both storable.
_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "eventType": st.sampled_from(["NOTE_ADDED", "STATUS_CHANGED", "LEAD_CLAIMED"]),
    "createdBy": st.uuids().map(str),
    "description": st.text(min_size=1, max_size=30),
    "messageContent": st.text(max_size=30),
    "metadata": st.dictionaries(
        st.sampled_from(["a", "b", "note"]), st.integers(-5, 5) | st.text(max_size=6), max_size=3
    ),
    "source": st.sampled_from(["n8n:wf1", "n8n:wf2", "ui:add-note", "system:x"]),
    "executionId": st.text(min_size=1, max_size=10),
    # Within the months the log holds partitions for in any test database.
    "timestamp": st.integers(1_767_225_600, 1_798_761_599),
}


@st.composite
def _events(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "eventType": "NOTE_ADDED",
        "description": "note",
        "source": "ui:add-note",
        "executionId": "e1",
    }
    for name in draw(st.sets(st.sampled_from(sorted(_FIELDS)), max_size=3)):
        body[name] = draw(_FIELDS[name])
    return body


def _storable(body: dict[str, Any]) -> str | None:
    """The event as the contract reads it (one spelling per event), None if refused."""
    try:
        return parse_event(body).model_dump_json()
    except InvalidEvent:
        return None


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(_events(), min_size=2, max_size=8))
async def test_different_events_are_different_rows_and_a_resend_is_none(
    api, pool, redis, ingest_key, bodies: list[dict[str, Any]]
) -> None:
    lead = f"recPairs{uuid.uuid4().hex[:10]}"  # this example's own rows
    await add_lead(pool, lead, "Hypo")
    bodies = [{**b, "leadAirtableId": lead} for b in bodies]
    distinct = {seen for b in bodies if (seen := _storable(b)) is not None}
    async with api.client(ingest_key) as http:
        for body in bodies:  # each over HTTP, then again as a raw producer would
            answer = await http.post(PATH, json=body)
            assert answer.status_code in (202, 400), answer.text
            await redis.xadd(api.settings.activity_stream, {"payload": dumps(body)})
    await drain(api.settings)
    assert len(await _rows(pool, lead)) == len(distinct)


async def test_an_untimed_resend_is_one_row_that_keeps_the_first_time(
    api, pool, ingest_key
) -> None:
    await add_lead(pool, "recProbeUntimed", "Una")
    note = _note("recProbeUntimed", "Left a voicemail", "n8n:wf-calls", "exec-77")
    async with api.client(ingest_key) as http:
        first = (await http.post(PATH, json=note)).json()
        again = (await http.post(PATH, json=note)).json()
    assert again["activityId"] == first["activityId"]
    await drain(api.settings)
    (row,) = await _rows(pool, "recProbeUntimed")
    assert str(row["id"]) == first["activityId"]
    # The re-send's answer shows its own receipt; the log keeps the first (CONTRACT §5).
    assert row["timestamp"] == datetime.fromisoformat(first["timestamp"])
