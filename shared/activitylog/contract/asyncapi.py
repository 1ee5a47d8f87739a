"""The stream contract (docs/CONTRACT.md §4) as an AsyncAPI 3.0 document, made by FastStream.

FastStream declares the channel and derives the payload from `ActivityEvent` itself (not a
copy), on a broker that is never started; this module then writes in what FastStream cannot
know: that the JSON goes in the entry field `payload`, the lead rule, the id rule, the limits.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import yaml

from activitylog.contract import tracking_plan
from activitylog.contract.events import (
    MAX_DESCRIPTION_CHARS,
    MAX_EVENT_BYTES,
    MAX_MESSAGE_CHARS,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    SOURCE_PATTERN,
    ActivityEvent,
)
from activitylog.contract.shards import SHARD_RULE
from activitylog.contract.stream_format import PAYLOAD_FIELD
from activitylog.contract.times import EARLIEST_TIME, LATEST_TIME, TIME_WINDOW_TEXT, iso

DEFAULT_STREAM = "activity:events"
ENTRY_FIELD = PAYLOAD_FIELD.decode()
EVENT_SCHEMA = ActivityEvent.__name__
# A placeholder host: the document is public, so it never names the deployment's REDIS_URL.
_SERVER_URL = "redis://localhost:6379"

# One line per field of ActivityEvent (docs/CONTRACT.md §1); tests/test_asyncapi.py fails
# when the model gains or loses a field this does not describe.
FIELD_DESCRIPTIONS: dict[str, str] = {
    "eventId": "Optional; the event's identity (see the id rule). Given, it is the row's key.",
    "eventType": "Required; one of the event types (case-insensitive, trimmed).",
    "eventCategory": "Optional; derived from eventType. A value that disagrees is refused.",
    "leadId": "The lead's UUID. leadId or leadAirtableId is required.",
    "leadAirtableId": "The lead's Airtable record id (`rec` and 3–61 letters or digits).",
    "leadPhone": "The lead's phone (10 digits or E.164), matched to a lead on the server.",
    "leadEmail": "The lead's email, matched to a lead on the server (case aside).",
    "clientId": "Optional; the lead's client is the truth: a contradicting value is not stored.",
    "description": f"Required; 1–{MAX_DESCRIPTION_CHARS:,} characters after trimming.",
    "messageContent": f"Optional; up to {MAX_MESSAGE_CHARS:,} characters.",
    "metadata": (
        f"Optional object; at most {MAX_METADATA_BYTES // 1024} KiB as JSON, nested at most "
        f"{MAX_METADATA_DEPTH} levels, finite numbers only."
    ),
    "source": "Required: `n8n:<workflowId>`, `ui:<action>` or `system:<name>` (≤ 200 chars).",
    "executionId": "Optional; 1–200 characters (n8n's execution id, for tracing).",
    "createdBy": "Optional; the portal user behind a UI action.",
    "timestamp": (
        "Optional; ISO 8601 (no offset means UTC) or a number of Unix seconds (never "
        f"milliseconds), {TIME_WINDOW_TEXT}. Absent: the time the event was received."
    ),
}

# What ActivityEvent's validators check beyond its fields' JSON schema.
LEAD_RULE: dict[str, Any] = tracking_plan.lead_rule()
UNIX_SECONDS: dict[str, Any] = {
    "type": "number",
    "minimum": EARLIEST_TIME.timestamp(),
    "exclusiveMaximum": LATEST_TIME.timestamp(),
    "description": "Unix seconds",
}

ID_RULE = [
    "`eventId`, when given;",
    "a provider's SMS fact (MESSAGE_SENT, MESSAGE_DELIVERED, MESSAGE_FAILED, LINK_CLICKED, "
    "INBOUND_REPLY, OPT_OUT) with `metadata.provider` and `metadata.messageId`: a UUIDv5 of "
    "the provider, the message id and the type, so every path logs one message once;",
    "over HTTP only, a UUIDv5 of the `Idempotency-Key` header;",
    "when `timestamp` or `executionId` is present, a UUIDv5 of every field the producer "
    "sent (the derived eventCategory aside), as sorted JSON;",
    "on the stream, a UUIDv5 of the stream entry id (a redelivery keeps its id);",
    "otherwise a random UUID.",
]

LIMITS: dict[str, Any] = {
    "maxEventBytes": MAX_EVENT_BYTES,
    "maxMetadataBytes": MAX_METADATA_BYTES,
    "maxMetadataDepth": MAX_METADATA_DEPTH,
    "maxDescriptionChars": MAX_DESCRIPTION_CHARS,
    "maxMessageContentChars": MAX_MESSAGE_CHARS,
    "earliestTimestamp": iso(EARLIEST_TIME),
    "latestTimestampExclusive": iso(LATEST_TIME),
    "nulCharacters": "refused in every text and key",
}

EXAMPLE_EVENT: dict[str, Any] = {
    "eventType": "MESSAGE_SENT",
    "leadAirtableId": "recAbc123XYZ4567",
    "description": "SMS sent",
    "messageContent": "Hi Sam!",
    "metadata": {
        "provider": "simpletexting",
        "messageId": "64f1c0a9e4b0",
        "campaignId": "spring-roofs",
        "phone": "+15550001111",
    },
    "source": "n8n:wf-sms",
    "executionId": "8812",
    "timestamp": "2026-03-01T10:00:00Z",
}


def _message_text(stream: str) -> str:
    rules = "\n".join(f"{n}. {rule}" for n, rule in enumerate(ID_RULE, start=1))
    return (
        f"One event per stream entry, as JSON text in the entry field **`{ENTRY_FIELD}`**:\n\n"
        f"    XADD {stream} '*' {ENTRY_FIELD} '{{\"eventType\":\"MESSAGE_SENT\",…}}'\n\n"
        "Other fields of the entry are ignored, and an entry without `payload` is dead. "
        "(A FastStream publisher writes its own `__data__` field, never `payload`: publish "
        "with any plain Redis client.) An entry that is not UTF-8 JSON, not an object or "
        "breaks the rules below goes to `retry_queue` as `dead`, with the reason.\n\n"
        "Required: `eventType`, `description`, `source`, and a lead (`leadAirtableId`, "
        "`leadId`, `leadPhone` or `leadEmail`; a report may name its message instead). "
        "camelCase or snake_case names; unknown fields are refused. The metadata keys each "
        "type carries are its tracking plan (`x-tracking-plan`): known keys are checked, "
        "others stay free.\n\n"
        f"Limits: a whole event ≤ {MAX_EVENT_BYTES // 1024} KiB; `description` ≤ "
        f"{MAX_DESCRIPTION_CHARS:,} characters; `messageContent` ≤ {MAX_MESSAGE_CHARS:,}; "
        f"`metadata` an object ≤ {MAX_METADATA_BYTES // 1024} KiB, nested at most "
        f"{MAX_METADATA_DEPTH} levels, finite numbers only; no NUL characters; `timestamp` "
        f"{TIME_WINDOW_TEXT}.\n\n"
        "The event id (the row's key; a second event with the same id adds nothing) is, by "
        f"the first rule that applies:\n\n{rules}\n\n"
        f"Shards: {SHARD_RULE}\n"
    )


def _complete(document: dict[str, Any], stream: str) -> None:
    """Write into FastStream's document what the stream's contract adds to the model."""
    document["info"]["description"] = (
        "How to publish lead activity events straight to the Redis stream. The document "
        "describes a producer: it sends each event as one stream entry, and the ingest "
        "workers store it in PostgreSQL exactly once (over HTTP, use "
        "`POST /api/internal/log-activity`; see /schema)."
    )
    document["servers"] = {
        "redis": {
            **document["servers"].pop("development"),
            "description": "The deployment's Redis (REDIS_URL); this host is a placeholder.",
        }
    }
    for channel in document["channels"].values():
        channel["servers"] = [{"$ref": "#/servers/redis"}]
    message = document["components"]["messages"][f"{stream}:Message"]
    # FastStream's correlation header belongs to its own envelope, which entries here lack.
    message.pop("correlationId", None)
    message.update(
        {
            "name": EVENT_SCHEMA,
            "title": "Lead activity event",
            "summary": "One lead activity event, JSON in the entry field `payload`",
            "description": _message_text(stream),
            "contentType": "application/json",
            "examples": [{"name": "MESSAGE_SENT", "payload": EXAMPLE_EVENT}],
            "x-stream-entry": {"field": ENTRY_FIELD, "encoding": "UTF-8 JSON text"},
            "x-event-id": ID_RULE,
            "x-limits": LIMITS,
            "x-shards": SHARD_RULE,
        }
    )
    schema = document["components"]["schemas"][EVENT_SCHEMA]
    for name, prop in schema["properties"].items():
        prop["description"] = FIELD_DESCRIPTIONS[name]
    schema["properties"]["source"]["pattern"] = SOURCE_PATTERN
    schema["properties"]["timestamp"]["anyOf"].append(UNIX_SECONDS)
    schema["allOf"] = [LEAD_RULE, *tracking_plan.metadata_rules()]
    message["x-tracking-plan"] = {
        t.value: tracking_plan.metadata_schema(t) for t in tracking_plan.PLAN
    }


@cache
def _document(stream: str) -> dict[str, Any]:
    # Imported here: FastStream takes about a second to import, and only this needs it.
    from faststream import FastStream
    from faststream.redis import RedisBroker
    from faststream.specification import AsyncAPI

    broker = RedisBroker(_SERVER_URL)  # never connected: it only declares the channel
    broker.publisher(
        stream=stream,
        schema=ActivityEvent,
        title=stream,
        description="Lead activity events; the ingest workers read them (consumer group "
        "`ingest`) and store each once.",
    )
    spec = AsyncAPI(title="Lead activity log: the event stream", version="1.0.0")
    app = FastStream(broker, specification=spec)
    document: dict[str, Any] = app.schema.to_specification().to_jsonable()
    _complete(document, stream)
    return document


def asyncapi_document(stream: str = DEFAULT_STREAM) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of `stream` (a copy: callers may change it)."""
    return copy.deepcopy(_document(stream))


def asyncapi_yaml(stream: str = DEFAULT_STREAM) -> str:
    """The document as YAML, keys in the document's order."""
    return yaml.safe_dump(asyncapi_document(stream), sort_keys=False, allow_unicode=True)
