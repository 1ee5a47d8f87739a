"""The log-activity POST's request, read: its content type, its JSON (one event or an array,
a key named twice a 400), each item validated and given its id and time (all or nothing),
and how long `Prefer: wait=N` or `?wait=` asks to wait for the events to be stored."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson
from litestar import Request

from activitylog.contract import json_text
from activitylog.contract.events import InvalidEvent, parse_event
from activitylog.contract.identity import AcceptedEvent
from activitylog.use_cases import live
from activitylog_api.errors import ApiError
from activitylog_api.params import VALID_TYPES

MAX_BATCH = 1_000

# RFC 7240: `Prefer: wait=N` (N seconds; several preferences comma-separated, in one header
# or several). Anything else in the header is a preference this route ignores.
_PREFER_WAIT = re.compile(r"(?:^|,)\s*wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?\s*(?:;[^,]*)?(?=,|$)", re.I)


def wait_seconds(prefer: str | None, wait: bool | None) -> float | None:
    """How long to wait for the events to be stored, at most `live.MAX_WAIT_S`; None: answer
    once they are queued. `Prefer: wait=N` sets the time, `?wait=true` the longest (or, with
    a Prefer, the Prefer's); `?wait=false` never waits."""
    if wait is False:
        return None
    asked: float | None = None
    for found in _PREFER_WAIT.finditer(prefer or ""):
        asked = float(found.group(1))
    if asked is None:
        return live.MAX_WAIT_S if wait else None
    return min(asked, live.MAX_WAIT_S) if asked > 0 else None


def seconds_text(seconds: float) -> str:
    return str(int(seconds)) if seconds == int(seconds) else f"{seconds:g}"


def decode_body(raw: bytes) -> tuple[list[Any], bool]:
    """The body's events and whether it was an array (a key named twice in one object is a
    400 naming it: docs/CONTRACT.md §1)."""
    if not raw.strip():
        raise ApiError(400, "the request body is empty; send one event or an array of events")
    try:
        data = json_text.loads(raw)
    except json_text.DuplicateKey as exc:
        raise ApiError(
            400,
            f"invalid event: {exc}",
            errors=[{"field": exc.path, "message": exc.message}],
        ) from None
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400,
            f"the request body is not valid JSON: {exc}",
            errors=[{"field": "", "message": f"not valid JSON: {exc}"}],
        ) from None
    if isinstance(data, list):
        if not data:
            raise ApiError(400, "the array is empty; send at least one event")
        if len(data) > MAX_BATCH:
            raise ApiError(400, f"an array may hold at most {MAX_BATCH} events, not {len(data)}")
        return data, True
    if isinstance(data, dict):
        return [data], False
    raise ApiError(400, f"the body must be an event object or an array, not {type(data).__name__}")


def accept_items(
    items: list[Any],
    is_array: bool,
    idempotency_key: str | None,
    received_at: datetime,
    nul_possible: bool = True,
) -> list[AcceptedEvent]:
    """Validate every item (all-or-nothing) and settle each one's id and time."""
    accepted: list[AcceptedEvent] = []
    errors: list[dict[str, str]] = []
    bad_type = False
    for index, item in enumerate(items):
        try:
            event = parse_event(item, nul_possible=nul_possible)
        except InvalidEvent as exc:
            for err in exc.errors:
                field = f"[{index}].{err.field}" if is_array else err.field
                errors.append({"field": field.rstrip("."), "message": err.message})
                bad_type = bad_type or err.field == "eventType"
            continue
        key = None
        if idempotency_key:
            key = f"{idempotency_key}:{index}" if is_array else idempotency_key
        accepted.append(
            AcceptedEvent.for_publishing(event, received_at=received_at, idempotency_key=key)
        )
    if not errors and is_array:
        errors = _repeated_ids(accepted)
    if errors:
        shown = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors[:5])
        body: dict[str, Any] = {"validTypes": VALID_TYPES} if bad_type else {}
        raise ApiError(400, f"invalid event: {shown}", errors=errors, body=body)
    return accepted


def _repeated_ids(accepted: list[AcceptedEvent]) -> list[dict[str, str]]:
    """Two items of one array that are the same event: storing one would silently drop one."""
    first: dict[object, int] = {}
    errors: list[dict[str, str]] = []
    for index, item in enumerate(accepted):
        seen = first.setdefault(item.id, index)
        if seen != index:
            errors.append(
                {
                    "field": f"[{index}].eventId",
                    "message": f"the same event as [{seen}] (id {item.id}); send each event once",
                }
            )
    return errors


def check_content_type(request: Request[Any, Any, Any]) -> None:
    """Only JSON, unencoded: anything else would be read wrong or not at all."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise ApiError(
            415,
            f"Content-Type must be application/json, not {media_type or 'missing'}",
            errors=[{"field": "Content-Type", "message": "must be application/json"}],
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise ApiError(
            415,
            f"Content-Encoding {encoding} is not accepted; send the JSON uncompressed",
            errors=[{"field": "Content-Encoding", "message": "must be identity (uncompressed)"}],
        )
