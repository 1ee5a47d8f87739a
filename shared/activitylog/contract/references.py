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


# -- phones and emails, as events and leads name them ---------------------------------------

_NON_DIGITS = re.compile(r"\D")
# A phone as written: digits with spaces, dots, dashes or brackets; `+` first for E.164, else
# a North American number (10 digits, or 11 starting with 1). The schemas state the same.
PHONE_PATTERN = r"^[ ().-]*(\+[ ().-]*(\d[ ().-]*){10,15}|(1[ ().-]*)?(\d[ ().-]*){10})$"
_PHONE_RE = re.compile(PHONE_PATTERN)
_E164_RE = re.compile(r"\+[1-9]\d{9,14}")
# E.164 allows at most 15 digits; fewer than 10 is no subscriber number anywhere we send.
_MIN_DIGITS, _MAX_DIGITS = 10, 15
# No blank, control character or second @ (the schemas state the same; NUL is refused). The
# C1 controls and U+FEFF are named so that the pattern means one thing in Python and in a
# schema's ECMA dialect (Python's \s holds U+0085 and not U+FEFF, ECMA's the other way).
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f-\x9f\ufeff]{1,64}@[^@\s\x00-\x1f\x7f-\x9f\ufeff]{1,255}$"
_EMAIL_RE = re.compile(EMAIL_PATTERN)


def phone_key(text: str) -> str:
    """The phone's digits with its country code, "" when it holds none.

    A number written with `+` is international as written. Otherwise ten digits are a North
    American number without its leading 1: SimpleTexting sends to US and Canadian numbers,
    and its reports and the production workflows write 10 digits. The SQL function
    `phone_key` (migration 0015) is the same rule, for the leads' index.
    """
    digits = _NON_DIGITS.sub("", text)
    if len(digits) == 10 and not text.lstrip().startswith("+"):
        return "1" + digits
    return digits


def e164(text: str) -> str:
    """`text` as an E.164 number (`+14085550001`); ValueError when it cannot be one.

    Without `+`, only a North American number (10 digits, or 11 starting with 1) is read:
    any other digit string is ambiguous, and a guessed country would file it under
    someone else's number.
    """
    if _E164_RE.fullmatch(text):
        return text  # already as stored: the usual case, without the general pattern's cost
    if not _PHONE_RE.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a phone number: 10 digits (North American) or E.164 "
            f"(+ and {_MIN_DIGITS}–{_MAX_DIGITS} digits)"
        )
    return "+" + phone_key(text)


def email_key(text: str) -> str:
    """An email as leads are matched by it: lower-cased; ValueError if not one."""
    if not _EMAIL_RE.fullmatch(text):
        raise ValueError(f"{text!r} is not an email address")
    return text.lower()
