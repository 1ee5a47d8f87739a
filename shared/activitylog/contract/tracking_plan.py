"""The tracking plan (docs/CONTRACT.md §1.1): the metadata keys each event type carries.

One list, read by the validation, the id rule, the analytics and the API documents. A known
key is checked and stored under its one name (camelCase); its snake_case spelling and the
PRD's names are accepted as aliases. Keys the plan does not name stay free, as sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from activitylog.contract.references import PHONE_PATTERN, e164
from activitylog.contract.taxonomy import EventType
from activitylog.contract.times import iso, utc_in_window

MAX_KEY_TEXT = 500


class BadKey(ValueError):
    """A known metadata key with a value the plan refuses; `key` is named as the producer
    spelt it (`campaign_id` stays `campaign_id`), so the 400 points at what was sent."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"metadata.{key}: {message}")
        self.key = key


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    text = str(value).strip()
    if not text:
        raise ValueError("must not be blank")
    if len(text) > MAX_KEY_TEXT:
        raise ValueError(f"longer than {MAX_KEY_TEXT} characters")
    return text


def _provider(value: Any) -> str:
    return _text(value).lower()


def _phone(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a phone number as a string")
    return e164(value)


def _time(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date-time") from None
    return iso(utc_in_window(parsed)) or ""


@dataclass(frozen=True, slots=True)
class Key:
    """One metadata key: its stored name, JSON type, meaning and accepted other spellings."""

    name: str
    json_type: str
    meaning: str
    check: Callable[[Any], Any]
    aliases: tuple[str, ...] = ()
    json_format: str | None = None
    pattern: str = r"\S"  # not blank

    @property
    def spellings(self) -> tuple[str, ...]:
        snake = "".join("_" + c.lower() if c.isupper() else c for c in self.name)
        return tuple(dict.fromkeys((self.name, snake, *self.aliases)))

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            # null is accepted and dropped: n8n writes null for a value it does not have.
            "type": [self.json_type, "null"],
            "description": self.meaning,
            "pattern": self.pattern,
            "maxLength": MAX_KEY_TEXT,
        }
        if self.json_format:
            schema["format"] = self.json_format
        return schema


PROVIDER = Key("provider", "string", "The SMS provider, lower case: `simpletexting`.", _provider)
MESSAGE_ID = Key(
    "messageId",
    "string",
    "The provider's id of the message (SimpleTexting's message id; SMS_Audit's Campaign ID).",
    _text,
    aliases=("simpletexting_id", "simpletextingId"),
)
CAMPAIGN_ID = Key(
    "campaignId",
    "string",
    "The campaign the event belongs to; never a message id.",
    _text,
    aliases=("campaign",),
)
PHONE = Key(
    "phone",
    "string",
    "The lead's phone number, stored as E.164 (10 North American digits are accepted).",
    _phone,
    aliases=("phone_number", "phoneNumber"),
    pattern=PHONE_PATTERN,
)
CARRIER = Key("carrier", "string", "The recipient's mobile carrier, from a delivery report.", _text)
REPORT_ID = Key("reportId", "string", "The provider's id of the delivery report.", _text)
IN_REPLY_TO = Key(
    "inReplyTo",
    "string",
    "On a reply: the messageId (or event id) of the message it answers, when known.",
    _text,
    aliases=("reply_to", "replyTo"),
)
# The contract's window, 1970 up to 2100, as the schemas can say it.
_YEAR_PREFIX = r"^(19[7-9]\d|20\d\d)-"
START_TIME = Key(
    "startTime",
    "string",
    "The meeting's start (ISO 8601).",
    _time,
    json_format="date-time",
    pattern=_YEAR_PREFIX,
)
END_TIME = Key(
    "endTime",
    "string",
    "The meeting's end (ISO 8601).",
    _time,
    json_format="date-time",
    pattern=_YEAR_PREFIX,
)
EVENT_URI = Key("eventUri", "string", "The meeting's URI at the booking provider.", _text)
INVITEE_URI = Key("inviteeUri", "string", "The invitee's URI at the booking provider.", _text)
STATUS_FROM = Key("from", "string", "The status before the change.", _text)
STATUS_TO = Key("to", "string", "The status after the change.", _text)

# Every SMS fact a provider reports about one message: its id comes from the message.
SMS_FACTS = frozenset(
    {
        EventType.MESSAGE_SENT,
        EventType.MESSAGE_DELIVERED,
        EventType.MESSAGE_FAILED,
        EventType.LINK_CLICKED,
        EventType.INBOUND_REPLY,
        EventType.OPT_OUT,
    }
)
# Facts about a message sent earlier: they may name their message instead of their lead,
# and take the lead and campaign of its send.
REPORTS = frozenset({EventType.MESSAGE_DELIVERED, EventType.MESSAGE_FAILED, EventType.LINK_CLICKED})

_SMS_KEYS = (PROVIDER, MESSAGE_ID, CAMPAIGN_ID, PHONE, CARRIER, REPORT_ID)
_BOOKING_KEYS = (CAMPAIGN_ID, START_TIME, END_TIME, EVENT_URI, INVITEE_URI)

PLAN: dict[EventType, tuple[Key, ...]] = {
    event_type: (CAMPAIGN_ID,) for event_type in EventType
} | {
    **{t: _SMS_KEYS for t in SMS_FACTS},
    EventType.INBOUND_REPLY: (*_SMS_KEYS, IN_REPLY_TO),
    EventType.OPT_OUT: (*_SMS_KEYS, IN_REPLY_TO),
    EventType.BOOKING_CONFIRMED: _BOOKING_KEYS,
    EventType.BOOKING_CANCELLED: _BOOKING_KEYS,
    EventType.BOOKING_RESCHEDULED: _BOOKING_KEYS,
    EventType.STATUS_CHANGED: (CAMPAIGN_ID, STATUS_FROM, STATUS_TO),
}

_SPELLINGS: dict[EventType, dict[str, Key]] = {
    event_type: {spelling: key for key in keys for spelling in key.spellings}
    for event_type, keys in PLAN.items()
}
# A spelling that says which provider the id is from.
_IMPLIED_PROVIDER = {"simpletexting_id": "simpletexting", "simpletextingId": "simpletexting"}


def normalised(event_type: EventType, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """`metadata` with the plan's keys checked and stored under their one name.

    Raises BadKey naming the key: a bad value, two spellings of one key that disagree, or
    a message id without the provider it comes from.
    """
    spellings = _SPELLINGS[event_type]
    out: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for name, value in metadata.items():
        key = spellings.get(name)
        if key is None:
            out[name] = value
            continue
        if value is None:
            continue  # a producer's empty field (n8n writes null for a missing value)
        try:
            checked = key.check(value)
        except ValueError as exc:
            raise BadKey(name, str(exc)) from None
        if key.name in out and out[key.name] != checked:
            raise BadKey(
                key.name, f"given twice with different values (as {spelled[key.name]} and {name})"
            )
        out[key.name] = checked
        spelled[key.name] = name
        if name in _IMPLIED_PROVIDER:
            out.setdefault(PROVIDER.name, _IMPLIED_PROVIDER[name])
    if MESSAGE_ID.name in out and PROVIDER.name not in out and event_type in SMS_FACTS:
        raise BadKey(PROVIDER.name, "required with metadata.messageId (e.g. simpletexting)")
    return out


@dataclass(frozen=True, slots=True)
class MessageRef:
    """The provider's message an SMS fact is about."""

    provider: str
    message_id: str

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.message_id}"


def message_of(event_type: EventType, metadata: Mapping[str, Any] | None) -> MessageRef | None:
    """The message a (normalised) SMS fact names, None when it names none."""
    if event_type not in SMS_FACTS or not metadata:
        return None
    provider, message_id = metadata.get(PROVIDER.name), metadata.get(MESSAGE_ID.name)
    if isinstance(provider, str) and isinstance(message_id, str):
        return MessageRef(provider, message_id)
    return None


def campaign_of(metadata: Mapping[str, Any] | None) -> str | None:
    """The campaign a (normalised) event names."""
    value = (metadata or {}).get(CAMPAIGN_ID.name)
    return value if isinstance(value, str) and value else None


def metadata_schema(event_type: EventType) -> dict[str, Any]:
    """The JSON schema of one type's metadata: the plan's keys under every spelling the
    server reads (each is checked alike), any others free."""
    properties: dict[str, Any] = {}
    for key in PLAN[event_type]:
        properties[key.name] = key.json_schema()
        for spelling in key.spellings[1:]:
            properties[spelling] = {
                **key.json_schema(),
                "description": f"Another spelling of `{key.name}`, stored as `{key.name}`; "
                "when both are sent they must agree.",
            }
    return {"type": ["object", "null"], "properties": properties, "additionalProperties": True}


LEAD_FIELDS = ("leadAirtableId", "leadId", "leadPhone", "leadEmail")


def lead_rule() -> dict[str, Any]:
    """JSON Schema of the lead rule: a lead field, or a report naming its message."""
    return {
        "anyOf": [
            *(
                {"required": [name], "properties": {name: {"type": "string"}}}
                for name in LEAD_FIELDS
            ),
            {
                "required": ["eventType", "metadata"],
                "properties": {
                    "eventType": {"enum": sorted(t.value for t in REPORTS)},
                    "metadata": {
                        "type": "object",
                        "required": [PROVIDER.name, MESSAGE_ID.name],
                    },
                },
            },
        ],
        "description": "A lead is required: leadAirtableId, leadId, leadPhone or leadEmail; "
        "a delivery, failure or click may name its message instead (metadata.provider and "
        "metadata.messageId), whose send's lead it takes.",
    }


def metadata_rules() -> list[dict[str, Any]]:
    """JSON Schema of the plan: per event type, the keys its metadata may carry."""
    return [
        {
            "if": {"required": ["eventType"], "properties": {"eventType": {"const": t.value}}},
            "then": {"properties": {"metadata": metadata_schema(t)}},
        }
        for t in EventType
    ]


def plan_table() -> list[str]:
    """The plan as the Markdown rows of docs/CONTRACT.md §1.1 (a test keeps them equal)."""
    types_of: dict[str, list[EventType]] = {}
    keys: dict[str, Key] = {}
    for event_type, plan_keys in PLAN.items():
        for key in plan_keys:
            keys[key.name] = key
            types_of.setdefault(key.name, []).append(event_type)

    def types(names: list[EventType]) -> str:
        if len(names) == len(EventType):
            return "every type"
        if set(names) == SMS_FACTS:
            return "SMS facts"
        return ", ".join(t.value for t in names)

    return [
        f"| `{name}` | {types(types_of[name])} | "
        f"{', '.join(f'`{a}`' for a in key.spellings[1:]) or '—'} | {key.meaning} |"
        for name, key in keys.items()
    ]
