"""The reads' query parameters, as routes that still import them here know them: the one
parser is `activitylog.domain.reads.params` (a bad value is a `BadQuery`, answered as a
400 naming its field like `bad_request`)."""

from activitylog.domain.reads.params import (
    MAX_BIGINT,
    MAX_TEXT_CHARS,
    VALID_CATEGORIES,
    VALID_TYPES,
    airtable_id,
    bigint_id,
    categories,
    event_types,
    text,
    time_range,
    uuid_value,
)

__all__ = [
    "MAX_BIGINT",
    "MAX_TEXT_CHARS",
    "VALID_CATEGORIES",
    "VALID_TYPES",
    "airtable_id",
    "bigint_id",
    "categories",
    "event_types",
    "text",
    "time_range",
    "uuid_value",
]
