"""How Airtable exports write things: column names and times (shared by every import)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

_DATE_FORMATS = (
    "%m/%d/%Y %I:%M%p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S%p",
    "%m/%d/%Y %I:%M:%S %p",
    "%B %d, %Y %I:%M%p",
    "%B %d, %Y %I:%M %p",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
)


def normalise_header(name: str) -> str:
    """An export's column name as a key: `Sent At` → `sent_at` (a BOM is dropped)."""
    return re.sub(r"[\s\-]+", "_", name.strip().lstrip("\ufeff").strip().lower())


def parse_time(text: str, tz: tzinfo = UTC) -> datetime:
    """An Airtable export time: ISO-8601 or US style; a value without an offset is in `tz`
    (the base's display zone; UTC unless told)."""
    text = text.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                value = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            raise ValueError(f"not a date/time: {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)
