"""The stream's entry format (docs/CONTRACT.md §4): the field an event travels in, entry
ids and the time Redis received an entry. Pure; storage.stream does the Redis calls."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

PAYLOAD_FIELD = b"payload"

Entry = tuple[str, dict[bytes, bytes] | None]  # (entry id, fields or None when deleted)


def entry_id_text(entry_id: bytes | str) -> str:
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


def entry_time(entry_id: str) -> datetime:
    """When Redis received an entry: the millisecond part of its id."""
    millis = int(entry_id.split("-", 1)[0])
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def normalise_entries(raw: Iterable[Any]) -> list[Entry]:
    """XREADGROUP/XCLAIM replies as (id, fields); a deleted entry has fields None."""
    entries: list[Entry] = []
    for item in raw:
        if item is None:
            continue
        entry_id, fields = item
        entries.append((entry_id_text(entry_id), fields or None))
    return entries
