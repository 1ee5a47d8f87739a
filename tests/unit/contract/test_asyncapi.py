"""The stream's AsyncAPI document says what the stream accepts, and cannot drift from the model."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from jsonschema import Draft202012Validator

from activitylog.contract import events, tracking_plan
from activitylog.contract.asyncapi import (
    EXAMPLE_EVENT,
    FIELD_DESCRIPTIONS,
    LEAD_RULE,
    LIMITS,
    UNIX_SECONDS,
    asyncapi_document,
    asyncapi_yaml,
)
from activitylog.contract.events import ActivityEvent, InvalidEvent, parse_event
from activitylog.contract.stream_format import PAYLOAD_FIELD
from activitylog.runtime.settings import get_settings
from activitylog_cli.main import cli
from poison_strategies import near_valid_events
from support import REPO

STREAM = "activity:events"
COMPONENTS = "#/components/schemas/"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document(STREAM)


def _message(document: dict[str, Any]) -> dict[str, Any]:
    (message,) = document["components"]["messages"].values()
    return message


def _without_additions(schema: dict[str, Any]) -> dict[str, Any]:
    """The payload schema less exactly what the contract module writes in on top of the model."""
    schema = copy.deepcopy(schema)
    assert schema.pop("allOf") == [LEAD_RULE, *tracking_plan.metadata_rules()]
    for prop in schema["properties"].values():
        prop.pop("description")
    assert schema["properties"]["source"].pop("pattern") == events.SOURCE_PATTERN
    assert schema["properties"]["timestamp"]["anyOf"].pop() == UNIX_SECONDS
    return schema


def test_payload_schema_is_the_event_models_schema(document) -> None:
    # FastStream derived the payload from ActivityEvent; a field added, dropped, renamed or
    # re-typed on one side only fails here.
    model = ActivityEvent.model_json_schema(
        by_alias=True, mode="validation", ref_template=COMPONENTS + "{model}"
    )
    definitions = model.pop("$defs")
    message = _message(document)
    assert message["payload"] == {"$ref": COMPONENTS + "ActivityEvent"}
    schemas = document["components"]["schemas"]
    assert _without_additions(schemas["ActivityEvent"]) == model
    assert {name: schemas[name] for name in definitions} == definitions
    assert set(schemas) == {"ActivityEvent", *definitions}
    # Every field is described, and nothing is described that the model lacks.
    assert set(FIELD_DESCRIPTIONS) == set(model["properties"])


def test_document_says_where_the_json_goes_and_what_is_required(document) -> None:
    assert document["asyncapi"] == "3.0.0"
    (channel,) = document["channels"].values()
    assert channel["address"] == STREAM
    (operation,) = document["operations"].values()
    assert operation["action"] == "send"
    message = _message(document)
    assert message["x-stream-entry"]["field"] == PAYLOAD_FIELD.decode() == "payload"
    assert f"XADD {STREAM} '*' payload" in message["description"]
    assert "correlationId" not in message  # FastStream's envelope header; entries carry none
    assert "__data__" in message["description"]  # says a FastStream publisher will not do
    event = document["components"]["schemas"]["ActivityEvent"]
    assert set(event["required"]) == {"eventType", "description", "source"}
    assert event["additionalProperties"] is False
    assert "Idempotency-Key" in " ".join(message["x-event-id"])
    assert LIMITS["maxEventBytes"] == events.MAX_EVENT_BYTES == 256 * 1024
    assert message["x-limits"] == LIMITS
    assert message["x-limits"]["maxMetadataBytes"] == events.MAX_METADATA_BYTES
    assert document["servers"]["redis"]["protocol"] == "redis"


def test_the_id_rules_are_in_the_order_the_server_applies_them(document) -> None:
    # derive_event_id: eventId, the SMS fact, the Idempotency-Key, the content, the delivery.
    marks = ["`eventId`", "SMS fact", "Idempotency-Key", "every field", "stream entry", "random"]
    rules = _message(document)["x-event-id"]
    assert len(rules) == len(marks)
    assert all(mark in rule for mark, rule in zip(marks, rules, strict=True))
    contract = (REPO / "docs" / "CONTRACT.md").read_text().split("## 3.", 1)[1]
    numbered = [line for line in contract.splitlines() if line[:3] in {f"{n}. " for n in "123456"}]
    assert all(mark in line for mark, line in zip(marks, numbered[:6], strict=True))


def _validator(document: dict[str, Any]) -> Draft202012Validator:
    schema = {"$ref": COMPONENTS + "ActivityEvent", "components": document["components"]}
    return Draft202012Validator(schema)


VALID = [
    EXAMPLE_EVENT,
    {**EXAMPLE_EVENT, "leadAirtableId": None, "leadPhone": "+14085550001"},
    {  # a report may name its message instead of its lead
        **{k: v for k, v in EXAMPLE_EVENT.items() if k != "leadAirtableId"},
        "eventType": "MESSAGE_DELIVERED",
    },
    {
        "eventType": "NOTE_ADDED",
        "leadId": "0b5e7a8e-7f4c-4e56-9d1b-3b3b8f7c6a11",
        "description": "Called",
        "source": "ui:note",
    },
    {**EXAMPLE_EVENT, "timestamp": 1772359200},
    {**EXAMPLE_EVENT, "eventCategory": "SMS", "metadata": None},
]
INVALID = [
    {k: v for k, v in EXAMPLE_EVENT.items() if k != "leadAirtableId"},  # no lead
    {**EXAMPLE_EVENT, "leadAirtableId": None, "leadId": None},  # null names no lead
    {k: v for k, v in EXAMPLE_EVENT.items() if k != "source"},
    {**EXAMPLE_EVENT, "source": "zapier:x"},
    {**EXAMPLE_EVENT, "surprise": 1},
    {**EXAMPLE_EVENT, "eventType": "NOT_A_TYPE"},
    {**EXAMPLE_EVENT, "timestamp": 1772359200000},  # milliseconds
    {**EXAMPLE_EVENT, "description": "x" * (events.MAX_DESCRIPTION_CHARS + 1)},
    {**EXAMPLE_EVENT, "leadAirtableId": "notarecord"},
    {**EXAMPLE_EVENT, "metadata": {"phone": "12345"}},  # the tracking plan's phone
    {**EXAMPLE_EVENT, "metadata": {"campaignId": " "}},  # a blank campaign
]


@pytest.mark.parametrize("event", VALID)
def test_the_document_accepts_what_the_contract_accepts(document, event) -> None:
    parse_event(event)
    assert list(_validator(document).iter_errors(event)) == []


@pytest.mark.parametrize("event", INVALID)
def test_the_document_refuses_what_the_contract_refuses(document, event) -> None:
    with pytest.raises(InvalidEvent):
        parse_event(event)
    assert list(_validator(document).iter_errors(event)) != []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=near_valid_events())
def test_every_event_the_contract_accepts_conforms_to_the_document(body) -> None:
    # Written the canonical way (camelCase, exact type names, ISO times), any event the
    # contract accepts must pass the document's schema, so a producer that validates with
    # it never refuses a good event.
    try:
        accepted = parse_event(body)
    except InvalidEvent:
        assume(False)
        return
    canonical = accepted.model_dump(mode="json", by_alias=True)
    errors = list(_DOCUMENT_VALIDATOR.iter_errors(canonical))
    assert errors == [], (canonical, [e.message for e in errors])


_DOCUMENT_VALIDATOR = _validator(asyncapi_document(STREAM))


def test_cli_prints_the_document_as_json_and_yaml() -> None:
    # The CLI reads ACTIVITY_STREAM from the environment, as in production (in this process:
    # a fresh one costs seconds of imports).
    env = {"ACTIVITY_STREAM": "elsewhere:events"}
    get_settings.cache_clear()
    try:
        as_json = CliRunner().invoke(cli, ["asyncapi"], env=env)
        as_yaml = CliRunner().invoke(cli, ["asyncapi", "--yaml"], env=env)
    finally:
        get_settings.cache_clear()
    assert as_json.exit_code == 0, as_json.output
    assert as_yaml.exit_code == 0, as_yaml.output
    expected = asyncapi_document("elsewhere:events")
    assert json.loads(as_json.stdout) == expected
    assert yaml.safe_load(as_yaml.stdout) == expected
    assert yaml.safe_load(asyncapi_yaml("elsewhere:events")) == expected
