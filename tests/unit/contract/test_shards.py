"""The shard rule (contract.shards): stable, in range, one lead always on one shard, and the
same from a validated event as from the JSON a raw producer sends."""

from __future__ import annotations

import uuid
import zlib
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from activitylog.contract.events import parse_event
from activitylog.contract.shards import (
    normalised_reference,
    shard_keys,
    shard_of_event,
    shard_of_payload,
    shard_of_reference,
)

shard_counts = st.integers(min_value=1, max_value=64)
airtable_ids = st.from_regex(r"rec[A-Za-z0-9]{14}", fullmatch=True)
phones = st.from_regex(
    r"\+1 ?\(?[2-9]\d{2}\)?[ -]?\d{3}-?\d{4}|[2-9]\d{2}[.-]\d{3}[.-]\d{4}", fullmatch=True
)
emails = st.from_regex(r"[A-Za-z0-9._]{1,12}@[A-Za-z0-9]{1,10}\.(com|org|IO)", fullmatch=True)
# What the API trims from an Airtable id (Unicode White_Space); spaces around a phone.
WHITE_SPACE = st.text(alphabet=" \t\n\x0b\x0c\x85\xa0\u1680\u2003\u2028\u3000", max_size=3)


def padded(values: st.SearchStrategy[str], spaces=WHITE_SPACE) -> st.SearchStrategy[str]:
    return st.tuples(spaces, values, spaces).map("".join)


def _event(**lead: str) -> dict[str, object]:
    return {
        "eventType": "note_added",
        "source": "n8n:wf-1",
        "timestamp": datetime(2026, 1, 2, tzinfo=UTC).isoformat(),
        "description": "a note",
        **lead,
    }


@given(st.text(max_size=40), shard_counts)
def test_a_reference_lands_on_one_shard_in_range(reference: str, shards: int) -> None:
    shard = shard_of_reference(reference, shards)
    assert 0 <= shard < shards
    assert shard == shard_of_reference(reference, shards)


def test_the_rule_is_crc32_of_the_reference_mod_n() -> None:
    # The figures a JavaScript producer checks its crc32 against (docs/CONTRACT.md §4).
    assert zlib.crc32(b"recAbc123") == 0x63651893
    assert shard_of_reference("recAbc123", 4) == 0x63651893 % 4
    assert shard_of_reference("", 4) == 0
    assert shard_keys("activity:events", 1) == ["activity:events"]
    assert shard_keys("t-1:activity:events", 2) == [
        "t-1:activity:{0}:events",
        "t-1:activity:{1}:events",
    ]


@given(st.uuids(), shard_counts)
def test_a_lead_id_however_written_is_one_shard(lead: uuid.UUID, shards: int) -> None:
    spellings = [str(lead), str(lead).upper(), lead.hex, "{" + str(lead) + "}"]
    found = {shard_of_payload({"leadId": text}, shards) for text in spellings}
    assert len(found) == 1


@given(
    st.one_of(
        padded(airtable_ids).map(lambda v: {"leadAirtableId": v}),
        st.uuids().map(lambda v: {"leadId": str(v).upper()}),
        padded(phones, st.text(" ", max_size=2)).map(lambda v: {"leadPhone": v}),
        emails.map(lambda v: {"leadEmail": v}),
    ),
    shard_counts,
)
def test_the_api_places_an_event_where_a_raw_producer_does(
    lead: dict[str, str], shards: int
) -> None:
    payload = _event(**lead)
    assert shard_of_event(parse_event(payload), shards) == shard_of_payload(payload, shards)


@given(phones)
def test_a_phone_is_its_digits_with_the_country_code(phone: str) -> None:
    reference = normalised_reference(phone=phone)
    assert reference.isdigit()
    assert reference.startswith("1")
    assert len(reference) == 11


def test_the_first_reference_named_wins() -> None:
    both = {"leadAirtableId": "recAbc123", "leadEmail": "A@B.com"}
    assert shard_of_payload(both, 7) == shard_of_reference("recAbc123", 7)
    assert normalised_reference(email="A@B.com") == "a@b.com"
    assert shard_of_payload({"leadId": 12}, 5) == 0  # not text: no reference
