"""The one cursor dialect of every keyset read: base64url JSON of the last row's sort values
and the kind of page they belong to (`browse:timestamp:desc`, `timeline`, `retry-queue`…)."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from activitylog.contract.times import utc_in_window
from activitylog.domain.reads.query import BadQuery

MAX_CURSOR_CHARS = 1_000
# asyncpg reads PostgreSQL's ±infinity timestamps (possible in old rows) as these naive
# values and writes them back as ±infinity, so a cursor holding them continues exactly.
_INFINITIES = {"infinity": datetime.max, "-infinity": datetime.min}
_INFINITY_NAMES = {value: name for name, value in _INFINITIES.items()}


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None and value in _INFINITY_NAMES:
            return _INFINITY_NAMES[value]
        return value.isoformat()
    return str(value)


def encode_cursor(kind: str, values: Sequence[Any]) -> str:
    """`kind` names the page and its order (a cursor is refused under another one)."""
    items = [_text(v) for v in values]
    raw = orjson.dumps({"k": kind, "v": items})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def malformed(field: str = "cursor") -> BadQuery:
    return BadQuery(field, "malformed cursor; use the nextCursor of a previous page")


def decode_cursor(
    text: str, kinds: str | Sequence[str], types: Sequence[type], *, field: str = "cursor"
) -> tuple[Any, ...]:
    """The sort values in a cursor of one of `kinds` (the first is today's, the others older
    spellings still read), typed as `types`; `BadQuery` naming `field` if it is not ours."""
    accepted = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if len(text) > MAX_CURSOR_CHARS:
        raise malformed(field)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise malformed(field) from None
    if not isinstance(data, dict) or not isinstance(data.get("v"), list):
        raise malformed(field)
    if data.get("k") not in accepted:
        raise BadQuery(field, "this cursor belongs to another sort order or query")
    values = data["v"]
    if len(values) != len(types) or not all(isinstance(v, str) for v in values):
        raise malformed(field)
    try:
        return tuple(_typed(t, v) for t, v in zip(types, values, strict=True))
    except ValueError:
        raise malformed(field) from None


def _typed(kind: type, value: str) -> Any:
    if kind is datetime:
        if value in _INFINITIES:
            return _INFINITIES[value]
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive timestamp")
        # The window every query bound keeps to (so nothing overflows on its way to SQL).
        return utc_in_window(parsed)
    if kind is uuid.UUID:
        return uuid.UUID(value)
    if "\x00" in value:
        raise ValueError("NUL")
    return value
