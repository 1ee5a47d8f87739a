"""How callers name a lead: its UUID or its Airtable record id (rec…)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

AIRTABLE_ID_PATTERN = r"^rec[A-Za-z0-9]{3,61}$"
AIRTABLE_ID_RE = re.compile(AIRTABLE_ID_PATTERN)


def is_airtable_id(text: str) -> bool:
    # fullmatch: Python's `$` also matches before a final newline, JSON Schema's does not.
    return AIRTABLE_ID_RE.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class LeadReference:
    """A lead named by exactly one of its UUID or its Airtable record id."""

    lead_id: uuid.UUID | None = None
    airtable_id: str | None = None


def parse_lead_reference(text: str) -> LeadReference | None:
    """`text` as a lead UUID or an Airtable record id; None when it is neither."""
    text = text.strip()
    if is_airtable_id(text):
        return LeadReference(airtable_id=text)
    try:
        return LeadReference(lead_id=uuid.UUID(text))
    except ValueError:
        return None
