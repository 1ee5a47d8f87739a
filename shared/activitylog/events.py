"""The event contract of §3: one validated event, its errors, and the event-id rule."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from activitylog.taxonomy import CATEGORY_OF, Category, EventType

MAX_EVENT_BYTES = 256 * 1024
MAX_METADATA_BYTES = 64 * 1024
MAX_DESCRIPTION_CHARS = 2_000
MAX_MESSAGE_CHARS = 20_000

# Fixed namespace for every UUIDv5 the product derives; changing it would change every id.
EVENT_ID_NAMESPACE = uuid.UUID("81f0aa53-999f-4930-8946-01472274092f")

_SOURCE_PATTERN = r"^(n8n|ui|system):\S.{0,198}$"
_AIRTABLE_ID_PATTERN = r"^rec[A-Za-z0-9]{3,61}$"
_SOURCE_RE = re.compile(_SOURCE_PATTERN)
VALID_TYPES_TEXT = ", ".join(t.value for t in EventType)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One reason an event is invalid; `field` uses the contract's camelCase name."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidEvent(ValueError):
    """Raised when input does not satisfy the contract; carries every field error."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))

    @classmethod
    def single(cls, field: str, message: str) -> InvalidEvent:
        return cls([FieldError(field, message)])


def _find_nul(value: Any, path: str) -> str | None:
    """Return the path of the first string (or key) holding a NUL character, if any."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in str(key):
                return f"{path}.{key!r}"
            found = _find_nul(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_nul(item, f"{path}[{index}]")
            if found:
                return found
    return None


class ActivityEvent(BaseModel):
    """One event as published by n8n, the portal or a script (camelCase or snake_case)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
    )

    event_id: uuid.UUID | None = None
    event_type: EventType
    event_category: Category | None = None
    lead_id: uuid.UUID | None = None
    lead_airtable_id: str | None = Field(default=None, pattern=_AIRTABLE_ID_PATTERN)
    client_id: uuid.UUID | None = None
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION_CHARS)
    message_content: str | None = Field(default=None, max_length=MAX_MESSAGE_CHARS)
    metadata: dict[str, Any] | None = None
    source: str
    execution_id: str | None = Field(default=None, min_length=1, max_length=200)
    created_by: uuid.UUID | None = None
    timestamp: datetime | None = None

    @field_validator("event_type", mode="before")
    @classmethod
    def _known_type(cls, value: Any) -> Any:
        if isinstance(value, str):
            candidate = value.strip().upper()
            if candidate in EventType.__members__:
                return candidate
            raise ValueError(f"unknown event type {value!r}; valid types: {VALID_TYPES_TEXT}")
        return value

    @field_validator("event_category", mode="before")
    @classmethod
    def _known_category(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("source", mode="after")
    @classmethod
    def _source_shape(cls, value: str) -> str:
        if not _SOURCE_RE.match(value):
            raise ValueError("must look like n8n:<workflowId>, ui:<action> or system:<name>")
        return value

    @field_validator("timestamp", mode="after")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # A timestamp without an offset is UTC (§3); store everything as aware UTC.
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @field_validator("metadata", mode="after")
    @classmethod
    def _metadata_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(orjson.dumps(value)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes as JSON")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.lead_id is None and self.lead_airtable_id is None:
            raise ValueError("leadAirtableId is required unless leadId is given")
        expected = CATEGORY_OF[self.event_type]
        if self.event_category is not None and self.event_category != expected:
            raise ValueError(
                f"eventCategory {self.event_category.value} does not match eventType "
                f"{self.event_type.value} (its category is {expected.value})"
            )
        return self

    @property
    def category(self) -> Category:
        return CATEGORY_OF[self.event_type]


_MODEL_LEVEL_FIELD = {
    "leadAirtableId is required": "leadAirtableId",
    "eventCategory ": "eventCategory",
}


def _field_errors(exc: ValidationError) -> list[FieldError]:
    errors: list[FieldError] = []
    for err in exc.errors(include_url=False):
        loc = [str(part) for part in err["loc"]]
        field = to_camel(loc[0]) if loc else ""
        if len(loc) > 1:
            field = field + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc[1:])
        message = str(err["msg"]).removeprefix("Value error, ")
        if not field:
            field = next((f for key, f in _MODEL_LEVEL_FIELD.items() if key in message), "")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "missing":
            message = "field required"
        errors.append(FieldError(field, message))
    return errors


def may_hold_nul(json_text: bytes) -> bool:
    """False when JSON text cannot decode to a NUL: the escape is its only way in."""
    return b"\\u0000" in json_text


def parse_event(data: Any, *, size: int | None = None, nul_possible: bool = True) -> ActivityEvent:
    """Validate one decoded JSON value as an event; `size` is its encoded length if known.

    `nul_possible=False` (see `may_hold_nul`) skips the walk looking for NUL characters.
    """
    if not isinstance(data, dict):
        raise InvalidEvent.single("", f"an event must be a JSON object, not {type(data).__name__}")
    if size is None:
        size = len(orjson.dumps(data))
    if size > MAX_EVENT_BYTES:
        raise InvalidEvent.single("", f"event is {size} bytes; the limit is {MAX_EVENT_BYTES}")
    nul_at = _find_nul(data, "") if nul_possible else None
    if nul_at is not None:
        field = nul_at.lstrip(".")
        raise InvalidEvent.single(field, "text may not contain NUL (\\u0000) characters")
    try:
        return ActivityEvent.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(_field_errors(exc)) from None


def parse_event_json(raw: bytes | str) -> ActivityEvent:
    """Decode and validate one event from its JSON text."""
    encoded = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if len(encoded) > MAX_EVENT_BYTES:
        raise InvalidEvent.single(
            "", f"event is {len(encoded)} bytes; the limit is {MAX_EVENT_BYTES}"
        )
    try:
        data = orjson.loads(encoded)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent.single("", f"payload is not valid JSON: {exc}") from None
    return parse_event(data, size=len(encoded), nul_possible=may_hold_nul(encoded))


def _canonical_content(event: ActivityEvent) -> bytes:
    content = {
        "eventType": event.event_type.value,
        "leadId": str(event.lead_id) if event.lead_id else None,
        "leadAirtableId": event.lead_airtable_id,
        "source": event.source,
        "executionId": event.execution_id,
        "timestamp": event.timestamp.isoformat() if event.timestamp else None,
        "messageContent": event.message_content,
        "metadata": event.metadata,
    }
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)


def derive_event_id(
    event: ActivityEvent,
    *,
    idempotency_key: str | None = None,
    fallback_key: str | None = None,
) -> uuid.UUID:
    """Apply the §3 identity rule: eventId, Idempotency-Key, canonical content, fallback, random.

    `fallback_key` names the delivery (a stream entry id) so a redelivered entry without
    timestamp or executionId keeps its id instead of getting a fresh random one.
    """
    if event.event_id is not None:
        return event.event_id
    if idempotency_key:
        return uuid.uuid5(EVENT_ID_NAMESPACE, "idempotency-key:" + idempotency_key)
    if event.timestamp is not None or event.execution_id is not None:
        return uuid.uuid5(EVENT_ID_NAMESPACE, "content:" + _canonical_content(event).decode())
    if fallback_key:
        return uuid.uuid5(EVENT_ID_NAMESPACE, "delivery:" + fallback_key)
    return uuid.uuid4()


@dataclass(frozen=True, slots=True)
class AcceptedEvent:
    """A valid event with its identity and effective time settled; what storage receives."""

    id: uuid.UUID
    event: ActivityEvent
    timestamp: datetime
    origin: str  # where it came from (stream entry id, "http", retry row), for dead letters
    raw: str  # the payload as received, kept for the retry queue

    @classmethod
    def accept(
        cls,
        event: ActivityEvent,
        *,
        received_at: datetime,
        origin: str,
        raw: str,
        idempotency_key: str | None = None,
        fallback_key: str | None = None,
    ) -> AcceptedEvent:
        event_id = derive_event_id(
            event, idempotency_key=idempotency_key, fallback_key=fallback_key
        )
        return cls(event_id, event, event.timestamp or received_at, origin, raw)


def iter_errors(exc: InvalidEvent) -> Iterator[dict[str, str]]:
    """The errors as JSON-ready dicts ({field, message})."""
    for err in exc.errors:
        yield {"field": err.field, "message": err.message}
