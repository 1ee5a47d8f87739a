"""Opaque keyset cursors: base64url JSON of the last row's sort values and their ordering."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from activitylog_api.errors import bad_request

MAX_CURSOR_CHARS = 1_000


def encode_cursor(kind: str, values: Sequence[Any]) -> str:
    """`kind` names the ordering (a cursor is refused under another one)."""
    items = [v.isoformat() if isinstance(v, datetime) else str(v) for v in values]
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
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive timestamp")
        return parsed
    if kind is uuid.UUID:
        return uuid.UUID(value)
    if "\x00" in value:
        raise ValueError("NUL")
    return value
