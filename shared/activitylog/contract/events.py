"""The event contract (docs/CONTRACT.md §1): one validated event and its errors."""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from activitylog.contract import tracking_plan
from activitylog.contract.references import (
    AIRTABLE_ID_PATTERN,
    EMAIL_PATTERN,
    PHONE_PATTERN,
    e164,
    email_key,
)
from activitylog.contract.taxonomy import CATEGORY_OF, Category, EventType
from activitylog.contract.times import LATEST_TIME, TIME_WINDOW_TEXT, utc_in_window

MAX_EVENT_BYTES = 256 * 1024
MAX_METADATA_BYTES = 64 * 1024
MAX_DESCRIPTION_CHARS = 2_000
MAX_MESSAGE_CHARS = 20_000
MAX_METADATA_DEPTH = 32


# What the body's trimming removes (pydantic trims Unicode White_Space, not all that Python
# calls whitespace: U+001C–U+001F stay); the schemas spell the same set out.
TRIMMED = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
SOURCE_PATTERN = rf"^(n8n|ui|system):[^{TRIMMED}][^\n]{{0,198}}$"
_SOURCE_RE = re.compile(SOURCE_PATTERN)
_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
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


def _first_unstorable(data: dict[str, Any], *, nul_possible: bool) -> FieldError | None:
    """The first value PostgreSQL or a page could not hold: NUL, non-finite, too deep.

    Iterative, so a hostile nesting depth cannot exhaust the interpreter's stack before
    the limit is noticed.
    """
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if nul_possible and "\x00" in value:
                return FieldError(path, "text may not contain NUL (\\u0000) characters")
        elif isinstance(value, float):
            if not math.isfinite(value):
                return FieldError(path, "numbers must be finite")
        elif isinstance(value, dict | list):
            if depth > MAX_METADATA_DEPTH:
                return FieldError(path, f"nested more than {MAX_METADATA_DEPTH} levels deep")
            if isinstance(value, list):
                stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))
                continue
            for key, item in value.items():
                if nul_possible and "\x00" in str(key):
                    return FieldError(
                        f"{path}.{key!r}".lstrip("."), "keys may not contain NUL characters"
                    )
                stack.append((item, f"{path}.{key}".lstrip("."), depth + 1))
    return None


# Every body of the contract: camelCase or snake_case, trimmed, unknown fields refused.
BODY_CONFIG = ConfigDict(
    alias_generator=to_camel,
    validate_by_name=True,
    validate_by_alias=True,
    extra="forbid",
    str_strip_whitespace=True,
)


class ActivityEvent(BaseModel):
    """One event as published by n8n, the portal or a script (camelCase or snake_case)."""

    model_config = ConfigDict(**BODY_CONFIG, frozen=True)

    event_id: uuid.UUID | None = None
    event_type: EventType
    event_category: Category | None = None
    lead_id: uuid.UUID | None = None
    lead_airtable_id: str | None = Field(default=None, pattern=AIRTABLE_ID_PATTERN)
    # Resolved to a lead on the server (docs/CONTRACT.md §6), so a producer needs no lookup.
    lead_phone: str | None = Field(
        default=None, max_length=50, json_schema_extra={"pattern": PHONE_PATTERN}
    )
    lead_email: str | None = Field(
        default=None, max_length=320, json_schema_extra={"pattern": EMAIL_PATTERN}
    )
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

    # Checked as sent, before the body's trimming: what the schemas' patterns state.
    @field_validator("lead_phone", mode="before")
    @classmethod
    def _phone(cls, value: Any) -> Any:
        return e164(value) if isinstance(value, str) else value

    @field_validator("lead_email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> Any:
        return email_key(value) if isinstance(value, str) else value

    @field_validator("timestamp", mode="before")
    @classmethod
    def _epoch_seconds(cls, value: Any) -> Any:
        # Pydantic reads numbers above 2e10 as milliseconds, so a far-future instant in
        # seconds would silently land in the 1970s: a number is always Unix seconds here.
        if isinstance(value, str) and _NUMBER_RE.match(value.strip()):
            value = float(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value) or not 0 <= value < LATEST_TIME.timestamp():
                raise ValueError(
                    f"{value} is not Unix seconds within the accepted window, "
                    f"{TIME_WINDOW_TEXT} (milliseconds are not accepted)"
                )
            return datetime.fromtimestamp(value, UTC)
        return value

    @field_validator("timestamp", mode="after")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # A timestamp without an offset is UTC; store everything as aware UTC.
        return None if value is None else utc_in_window(value)

    @field_validator("metadata", mode="after")
    @classmethod
    def _metadata_size(
        cls, value: dict[str, Any] | None, info: ValidationInfo
    ) -> dict[str, Any] | None:
        if value is not None and len(orjson.dumps(value)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes as JSON")
        event_type = info.data.get("event_type")
        if value is None or event_type is None:
            return value  # without a valid type its plan is unknown; that error is reported
        return tracking_plan.normalised(event_type, value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (
            self.lead_airtable_id is None
            and self.lead_id is None
            and self.lead_phone is None
            and self.lead_email is None
            and not self._names_its_message
        ):
            raise ValueError(
                "leadAirtableId is required unless leadId, leadPhone or leadEmail is given "
                "(a delivery, failure or click may name its message instead: "
                "metadata.provider and metadata.messageId)"
            )
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

    @property
    def message(self) -> tracking_plan.MessageRef | None:
        """The provider's message this SMS fact is about, if it names one."""
        return tracking_plan.message_of(self.event_type, self.metadata)

    @property
    def _names_its_message(self) -> bool:
        return self.event_type in tracking_plan.REPORTS and self.message is not None


# A tracking-plan error names its key: `metadata.phone: …` (tracking_plan.BadKey).
_PLAN_KEY_RE = re.compile(r"^(metadata\.[A-Za-z_][A-Za-z0-9_]*): (.*)$", re.DOTALL)
_MODEL_LEVEL_FIELD = {
    "leadAirtableId is required": "leadAirtableId",
    "eventCategory ": "eventCategory",
}


def field_errors(exc: ValidationError) -> list[FieldError]:
    """A pydantic error as one FieldError per fault, fields named as clients send them."""
    errors: list[FieldError] = []
    for err in exc.errors(include_url=False):
        loc = [str(part) for part in err["loc"]]
        field = to_camel(loc[0]) if loc else ""
        if len(loc) > 1:
            field = field + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc[1:])
        message = str(err["msg"]).removeprefix("Value error, ")
        if field == "metadata" and (named := _PLAN_KEY_RE.match(message)):
            field, message = named[1], named[2]
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


def may_nest_too_deep(json_text: bytes) -> bool:
    """False when JSON text cannot nest past the limit: every level opens a bracket."""
    return json_text.count(b"{") + json_text.count(b"[") > MAX_METADATA_DEPTH


def parse_event(
    data: Any,
    *,
    size: int | None = None,
    nul_possible: bool = True,
    from_strict_json: bool = False,
) -> ActivityEvent:
    """Validate one decoded JSON value as an event; `size` is its encoded length if known.

    `nul_possible=False` (see `may_hold_nul`) skips looking for NUL characters.
    `from_strict_json` says `data` is what `json_text.loads` made of text that
    `may_nest_too_deep` cleared: orjson refuses non-finite numbers, so with no NUL possible
    either, nothing is left to look for (the walk is a tenth of a worker's decode). Whatever
    this accepts can be stored and shown; anything it cannot judge is an InvalidEvent too,
    never another exception, so no input can stop a caller.
    """
    if not isinstance(data, dict):
        raise InvalidEvent.single("", f"an event must be a JSON object, not {type(data).__name__}")
    if nul_possible or not from_strict_json:
        unstorable = _first_unstorable(data, nul_possible=nul_possible)
        if unstorable is not None:
            raise InvalidEvent([unstorable])
    try:
        if size is None:
            size = len(orjson.dumps(data))
        if size > MAX_EVENT_BYTES:
            raise InvalidEvent.single("", f"event is {size} bytes; the limit is {MAX_EVENT_BYTES}")
        return ActivityEvent.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(field_errors(exc)) from None
    except InvalidEvent:
        raise
    except Exception as exc:  # a value no rule foresaw: refuse it, with what was wrong
        raise InvalidEvent.single(
            "", f"event cannot be read: {type(exc).__name__}: {exc}"
        ) from None


def parse_event_json(raw: bytes | str) -> ActivityEvent:
    """Decode and validate one event from its JSON text."""
    encoded = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if len(encoded) > MAX_EVENT_BYTES:
        raise InvalidEvent.single(
            "", f"event is {len(encoded)} bytes; the limit is {MAX_EVENT_BYTES}"
        )
    # Strict: an object naming a key twice is refused (docs/CONTRACT.md §1).
    from activitylog.contract import json_text

    try:
        data = json_text.loads(encoded)
    except json_text.DuplicateKey as exc:
        raise InvalidEvent.single(exc.path, exc.message) from None
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent.single("", f"payload is not valid JSON: {exc}") from None
    return parse_event(
        data,
        size=len(encoded),
        nul_possible=may_hold_nul(encoded),
        from_strict_json=not may_nest_too_deep(encoded),
    )
