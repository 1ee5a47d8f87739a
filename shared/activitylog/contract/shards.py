"""Which shard of the stream an event goes to (docs/CONTRACT.md §4): the one rule, pure.

With ACTIVITY_STREAM_SHARDS=N above 1 the stream is N keys, `<prefix>:{k}:<last>` for
k = 0..N-1 (the configured name split at its last colon), each hash-tagged so that it lives
on one Redis Cluster slot. An event's shard is CRC-32 (IEEE, as zlib and every JavaScript
crc32 snippet compute it) of its normalised lead reference, as UTF-8, mod N: the same lead
named the same way always lands on the same shard, so its events stay in order.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from typing import Any

from activitylog.contract.events import TRIMMED, ActivityEvent
from activitylog.contract.references import phone_key

_NON_HEX = re.compile(r"[^0-9a-f]")
# What the API trims from a text (events.TRIMMED, Unicode White_Space): not str.strip, which
# also drops \x1c-\x1f, nor JavaScript's trim, which also drops \ufeff.
_AROUND = re.compile(f"^[{TRIMMED}]+|[{TRIMMED}]+$")

# The rule in words, for the AsyncAPI document and producers (docs/CONTRACT.md §4).
SHARD_RULE = (
    "With ACTIVITY_STREAM_SHARDS=N above 1 the stream is N keys: the configured name with "
    "`{k}:` put before its last part (`activity:events` → `activity:{0}:events` … "
    "`activity:{N-1}:events`). Publish an event to shard k = CRC-32 (IEEE, as zlib.crc32) of "
    "its lead reference as UTF-8, mod N. The lead reference is the first the event names of: "
    "`leadAirtableId` without surrounding Unicode White_Space (as the API trims it); `leadId` "
    "lower-cased, keeping its hex digits only (the last 32); `leadPhone` as "
    "its digits 0-9, with 1 put first when there are 10 and it is not written with `+`; "
    "`leadEmail` lower-cased; else the empty text (shard 0). One lead "
    "named one way thus stays on one shard, in order. Any shard is still stored exactly "
    "once: the rule only keeps a lead's events in their order. With one shard, the key is "
    "the configured name itself."
)


def shard_keys(stream: str, shards: int) -> list[str]:
    """The stream's keys: `[stream]` itself for one shard, else one hash-tagged key a shard."""
    if shards <= 1:
        return [stream]
    head, colon, last = stream.rpartition(":")
    return [f"{head}{colon}{{{k}}}:{last}" for k in range(shards)]


def normalised_reference(
    *,
    airtable_id: str | None = None,
    lead_id: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> str:
    """The text the shard is hashed from: the first of these an event names, normalised.

    `leadAirtableId` without surrounding whitespace, as the API trims it; `leadId` as its
    32 hex digits, lower case; `leadPhone` as leads are matched by it (its digits, a
    leading 1 added to 10 digits written without `+`); `leadEmail` in lower case; "" when
    the event names none (it names its message)."""
    airtable_id = _AROUND.sub("", airtable_id or "")
    if airtable_id:
        return airtable_id
    if lead_id:
        return _NON_HEX.sub("", lead_id.lower())[-32:]
    if phone:
        return phone_key(phone)
    if email:
        return email.lower()
    return ""


def shard_of_reference(reference: str, shards: int) -> int:
    """CRC-32 of the normalised reference's UTF-8 bytes, mod `shards`."""
    if shards <= 1:
        return 0
    return zlib.crc32(reference.encode("utf-8", "surrogatepass")) % shards


def shard_of_payload(payload: Mapping[str, Any], shards: int) -> int:
    """The shard of an event as a raw producer sends it (its JSON object)."""

    def text(name: str) -> str | None:
        value = payload.get(name)
        return value if isinstance(value, str) else None

    reference = normalised_reference(
        airtable_id=text("leadAirtableId"),
        lead_id=text("leadId"),
        phone=text("leadPhone"),
        email=text("leadEmail"),
    )
    return shard_of_reference(reference, shards)


def shard_of_event(event: ActivityEvent, shards: int) -> int:
    """The shard of a validated event: the same as `shard_of_payload` of what was sent."""
    reference = normalised_reference(
        airtable_id=event.lead_airtable_id,
        lead_id=str(event.lead_id) if event.lead_id else None,
        phone=event.lead_phone,
        email=event.lead_email,
    )
    return shard_of_reference(reference, shards)
