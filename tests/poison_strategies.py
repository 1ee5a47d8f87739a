"""Hypothesis strategies for what a careless or hostile producer may send: events and entries."""

from __future__ import annotations

import json
import uuid
from typing import Any

from hypothesis import strategies as st

from support import event

FIELDS = [
    "eventId",
    "eventType",
    "eventCategory",
    "leadId",
    "leadAirtableId",
    "clientId",
    "description",
    "messageContent",
    "metadata",
    "source",
    "executionId",
    "createdBy",
    "timestamp",
]

# Text that strains every layer: NUL, lone surrogates are left out only where JSON itself
# cannot carry them; control characters, bidi overrides, astral planes and HTML do not.
odd_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "\u202e\u2066rtl",
            "😀" * 30,
            "<script>alert(1)</script>",
            '"; DROP TABLE leads; --',
            '=HYPERLINK("http://x")',
            "\ufeff",
            "\r\n\t",
            "x" * 2_001,
        ]
    ),
)

huge_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([2**63, -(2**63) - 1, 1e308, -1e308, 5e-324, 253402300800, 1e20]),
)

json_scalars = st.one_of(st.none(), st.booleans(), huge_numbers, odd_text)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(odd_text, children, max_size=4)
    ),
    max_leaves=12,
)


def nested(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


timestamps = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(
        [
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59.999999Z",
            "9999-12-31T23:59:59-14:00",
            "1969-12-31T23:59:59Z",
            "2099-12-31T23:59:59.999999Z",
            "2100-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "infinity",
            "-infinity",
            "2026-02-30T10:00:00Z",
        ]
    ),
    huge_numbers,
    odd_text,
)

field_values: dict[str, st.SearchStrategy[Any]] = {
    "eventId": st.one_of(st.uuids().map(str), odd_text, huge_numbers),
    "leadId": st.one_of(st.uuids().map(str), odd_text),
    "leadAirtableId": st.one_of(
        st.from_regex(r"rec[A-Za-z0-9]{3,61}", fullmatch=True), odd_text, st.just("rec" + "a" * 62)
    ),
    "clientId": st.one_of(st.uuids().map(str), odd_text),
    "createdBy": st.one_of(st.uuids().map(str), odd_text),
    "eventType": st.one_of(
        st.sampled_from(["MESSAGE_SENT", "note_added", " BOOKING_CONFIRMED ", "SMS_ZAPPED"]),
        odd_text,
    ),
    "eventCategory": st.one_of(st.sampled_from(["MESSAGE", "BOOKING", "gossip"]), odd_text),
    "description": odd_text,
    "messageContent": st.one_of(odd_text, st.just("m" * 20_001)),
    "metadata": st.one_of(
        json_values,
        st.integers(min_value=1, max_value=400).map(nested),
        st.dictionaries(odd_text, json_values, max_size=6),
    ),
    "source": st.one_of(
        st.sampled_from(["n8n:wf-1", "ui:x", "system:y", "email:z", "n8n:", "n8n: x"]), odd_text
    ),
    "executionId": st.one_of(odd_text, st.just("e" * 201)),
    "timestamp": timestamps,
}


@st.composite
def near_valid_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with some fields fuzzed at their bounds, dropped, or added."""
    body = event(draw(st.integers(min_value=0, max_value=10_000)))
    body["eventId"] = str(uuid.UUID(int=draw(st.integers(min_value=0, max_value=2**128 - 1))))
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        body[name] = draw(field_values[name])
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=2, unique=True)):
        if draw(st.booleans()):
            body.pop(name, None)
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        body[draw(odd_text)] = draw(json_values)
    return body


def to_json(value: Any) -> bytes:
    """JSON text as a lenient producer writes it: big integers, NaN and all."""
    return json.dumps(value, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


def deep_json(depth: int) -> bytes:
    """An event whose metadata is nested `depth` levels, as text (orjson stops at 254)."""
    inner = b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)
    return to_json(event(1, metadata="@")).replace(b'"@"', inner)


bodies = st.one_of(
    near_valid_events().map(to_json),
    st.lists(near_valid_events(), min_size=1, max_size=3).map(to_json),
    json_values.map(to_json),
    st.integers(min_value=30, max_value=1_500).map(deep_json),
    st.binary(max_size=64),
    st.sampled_from([b"", b"{", b"NaN", b"[]", b"{}", b'{"eventType":1e999}', b"\xff\xfe"]),
)

entry_fields = st.one_of(
    bodies.map(lambda b: {b"payload": b}),
    st.dictionaries(
        st.binary(min_size=1, max_size=12), st.binary(max_size=32), min_size=1, max_size=3
    ),
    bodies.map(lambda b: {b"payload": b, b"extra": b"x"}),
)
