"""Stream entries to events or dead letters: pure, whatever the entry holds."""

from __future__ import annotations

import base64

import orjson

from activitylog.contract.events import InvalidEvent, parse_event_json
from activitylog.contract.identity import AcceptedEvent
from activitylog.contract.stream_format import PAYLOAD_FIELD, entry_time
from activitylog.domain.dead_letters import DeadLetter, RetryStatus


def decode_entry(entry_id: str, fields: dict[bytes, bytes] | None) -> AcceptedEvent | DeadLetter:
    """One stream entry → an accepted event, or a `dead` letter naming what is wrong."""
    raw = (fields or {}).get(PAYLOAD_FIELD)
    if raw is None:
        names = ", ".join(sorted(k.decode("utf-8", "replace") for k in (fields or {})))
        return dead_letter(
            entry_id,
            fields_text(fields),
            f"entry has no 'payload' field (fields: {names or 'none'})",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return dead_letter(
            entry_id, raw.decode("utf-8", "backslashreplace"), "payload is not valid UTF-8"
        )
    try:
        event = parse_event_json(raw)
    except InvalidEvent as exc:
        return dead_letter(entry_id, text, str(exc))
    return AcceptedEvent.accept(
        event, received_at=entry_time(entry_id), origin=entry_id, raw=text, fallback_key=entry_id
    )


LAST_RESORT_PREFIX = "kept as base64 "


def last_resort(letter: DeadLetter, exc: BaseException) -> DeadLetter:
    """The letter with only ASCII in it, for when the letter itself could not be stored."""
    encoded = base64.b64encode(letter.payload.encode("utf-8", "surrogatepass")).decode()
    return DeadLetter(
        letter.queue_id,
        None,
        encoded,
        f"{LAST_RESORT_PREFIX}(the payload could not be stored as text: {exc!r}); "
        f"original reason: {letter.reason}"[:2000],
        RetryStatus.DEAD,
    )


def fields_text(fields: dict[bytes, bytes] | None) -> str:
    """An entry's fields as JSON text, whatever bytes they hold."""
    return orjson.dumps(
        {
            k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
            for k, v in (fields or {}).items()
        }
    ).decode()


def dead_letter(entry_id: str, payload: str, reason: str) -> DeadLetter:
    """A `dead` retry_queue row for an entry that can never be an event."""
    return DeadLetter(entry_id, guess_lead(payload), payload, reason, RetryStatus.DEAD)


def guess_lead(payload: str) -> str | None:
    """Best-effort lead reference of a payload that may not be valid, for operators."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    for key in ("leadAirtableId", "lead_airtable_id", "leadId", "lead_id"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value[:200]
    return None
