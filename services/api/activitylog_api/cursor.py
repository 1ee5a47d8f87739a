"""Opaque keyset cursors: base64url JSON of the last row's sort values and their ordering."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from activitylog.contract.times import utc_in_window
from activitylog_api.errors import bad_request

MAX_CURSOR_CHARS = 1_000
# What the document says of a cursor (`cursor=0` is not one): blank (absent), or base64url
# text starting as every cursor's JSON does, `{"k":"`. Only a page's nextCursor is sure to
# be read, as the parameter's description says.
CURSOR_PARAM = {
    "one_of": None,
    "type": "string",
    "max_length": MAX_CURSOR_CHARS,
    "pattern": "^(eyJrIjoi[A-Za-z0-9_-]*)?$",
}
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
    """`kind` names the ordering (a cursor is refused under another one)."""
    items = [_text(v) for v in values]
    raw = orjson.dumps({"k": kind, "v": items})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(text: str, kind: str, types: Sequence[type]) -> tuple[Any, ...]:
    """The sort values in a cursor, typed as `types`; a 400 naming `cursor` if it is not ours."""
    malformed = bad_request("cursor", "malformed cursor; use the nextCursor of a previous page")
    if len(text) > MAX_CURSOR_CHARS:
        raise malformed
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise malformed from None
    if not isinstance(data, dict) or not isinstance(data.get("v"), list):
        raise malformed
    if data.get("k") != kind:
        raise bad_request("cursor", "this cursor belongs to another sort order or query")
    values = data["v"]
    if len(values) != len(types) or not all(isinstance(v, str) for v in values):
        raise malformed
    try:
        return tuple(_typed(t, v) for t, v in zip(types, values, strict=True))
    except ValueError:
        raise malformed from None


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
