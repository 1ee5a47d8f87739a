"""The OpenAPI document at /schema describes the API a generated client will talk to."""

from __future__ import annotations

import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from activitylog.contract import tracking_plan
from activitylog.contract.events import ActivityEvent
from activitylog.contract.times import EARLIEST_TIME, LATEST_TIME
from activitylog.runtime.settings import Settings
from activitylog_api.app import create_app
from activitylog_api.auth import KEY_HEADER, is_public
from activitylog_api.openapi import YEAR_PREFIX
from activitylog_api.routes.leads import LeadDetails

ERROR_BODY = "#/components/schemas/ErrorBody"
INGEST = ("/api/internal/log-activity", "post")
PUT_LEAD = ("/api/internal/leads/{airtable_id}", "put")
EXPORT = ("/api/admin/activity-logs/export.csv", "get")
# Probes whose 503 carries their own report instead of the error body.
HEALTH_BODIES = {"/api/internal/activity-health", "/health/ready"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    # Building the document needs no backend: the app connects in its lifespan only.
    app = create_app(Settings(database_url="postgresql://unused", redis_url="redis://unused"))
    return app.openapi_schema.to_schema()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "put", "post", "delete", "patch"}
    ]


def _schema_of(response: dict[str, Any]) -> dict[str, Any]:
    return response["content"]["application/json"]["schema"]


def test_document_passes_the_openapi_validator(document) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_every_error_answer_is_documented_as_the_error_body(document) -> None:
    errors = document["components"]["schemas"]["ErrorBody"]
    assert set(errors["required"]) == {"success", "error"}
    assert errors["properties"]["success"]["const"] is False
    assert errors["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/FieldError"}
    field_error = document["components"]["schemas"]["FieldError"]
    assert set(field_error["required"]) == {"field", "message"}
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400 or (status == "503" and path in HEALTH_BODIES):
                continue
            assert _schema_of(response) == {"$ref": ERROR_BODY}, (path, method, status)
        assert "400" in operation["responses"], (path, method)


def test_key_routes_need_the_key_header_and_public_routes_none(document) -> None:
    scheme = document["components"]["securitySchemes"]["apiKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", KEY_HEADER)
    assert "security" not in document  # each operation says its own
    public = set()
    for path, method, operation in _operations(document):
        if is_public(path):
            assert operation["security"] == [], (path, method)
            public.add(path)
            continue
        assert operation["security"] == [{"apiKey": []}], (path, method)
        assert {"401", "403", "503"} <= set(operation["responses"]), (path, method)
    assert {"/health/live", "/health/ready", "/metrics", "/api/internal/activity-health"} <= public


def test_every_keyed_route_documents_503_with_retry_after(document) -> None:
    for path, method, operation in _operations(document):
        if operation["security"] == []:
            continue
        unavailable = operation["responses"]["503"]
        header = unavailable["headers"]["Retry-After"]
        assert header["required"] is True, (path, method)
        assert header["schema"]["type"] == "string"


def test_ingest_documents_its_body_and_every_answer(document) -> None:
    operation = document["paths"][INGEST[0]][INGEST[1]]
    assert {"201", "202", "400", "401", "403", "413", "415", "503"} <= set(operation["responses"])
    body = operation["requestBody"]
    assert body["required"] is True
    one, many = body["content"]["application/json"]["schema"]["oneOf"]
    assert one == {"$ref": "#/components/schemas/ActivityEvent"}
    assert many["type"] == "array"
    assert (many["minItems"], many["maxItems"]) == (1, 1000)
    assert many["items"] == one
    event = document["components"]["schemas"]["ActivityEvent"]
    # The document is the model's own schema, under the camelCase names clients send.
    assert set(event["properties"]) == {f.alias for f in ActivityEvent.model_fields.values()}
    assert event["additionalProperties"] is False
    assert {"eventType", "description", "source"} <= set(event["required"])
    assert event["properties"]["eventType"] == {"$ref": "#/components/schemas/EventType"}


def test_the_tracking_plan_is_in_the_event_schema_type_by_type(document) -> None:
    schema = {"$ref": "#/components/schemas/ActivityEvent", "components": document["components"]}
    validator = Draft202012Validator(schema)
    delivered = {
        "eventType": "MESSAGE_DELIVERED",
        "description": "Delivered",
        "source": "n8n:st-delivery",
        "metadata": {"provider": "simpletexting", "messageId": "64f1c0a9", "carrier": "T-Mobile"},
    }
    assert validator.is_valid(delivered)
    bad_phone = {**delivered, "metadata": {**delivered["metadata"], "phone": "12345"}}
    (error,) = validator.iter_errors(bad_phone)
    assert "phone" in list(error.absolute_path) or "phone" in str(error)
    # Each spelling the server reads is checked as the server checks it.
    for campaign, valid in ((5, False), ("spring", True)):
        aliased = {**delivered, "metadata": {**delivered["metadata"], "campaign_id": campaign}}
        assert validator.is_valid(aliased) is valid
    # A booking's startTime is checked as a time; on a note the same key is free.
    booking = {"eventType": "BOOKING_CONFIRMED", "leadAirtableId": "recAbc123XYZ4567"}
    booking |= {"description": "Booked", "source": "n8n:calendly"}
    assert not validator.is_valid({**booking, "metadata": {"startTime": "soon"}})
    assert validator.is_valid({**booking, "metadata": {"startTime": "2026-03-02T15:00:00Z"}})
    note = {**booking, "eventType": "NOTE_ADDED", "metadata": {"startTime": "soon"}}
    assert validator.is_valid(note)
    # Every type's plan keys are named in the document, under that type's rule.
    rules = {
        rule["if"]["properties"]["eventType"]["const"]: rule["then"]["properties"]["metadata"]
        for rule in _ingest_rules(document)
        if "if" in rule
    }
    for event_type, keys in tracking_plan.PLAN.items():
        assert {key.name for key in keys} <= set(rules[event_type.value].get("properties", {}))


def _ingest_rules(document: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "if" in node and "then" in node:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document["components"]["schemas"]["ActivityEvent"])
    return found


def test_put_lead_documents_its_body_and_201(document) -> None:
    operation = document["paths"][PUT_LEAD[0]][PUT_LEAD[1]]
    assert {"200", "201", "400", "401", "403", "413", "503"} <= set(operation["responses"])
    for status in ("200", "201"):
        assert _schema_of(operation["responses"][status]) == {
            "$ref": "#/components/schemas/LeadSaved"
        }
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/LeadDetails"}
    details = document["components"]["schemas"]["LeadDetails"]
    assert set(details["properties"]) == {f.alias for f in LeadDetails.model_fields.values()}


def test_export_is_documented_as_plain_csv(document) -> None:
    operation = document["paths"][EXPORT[0]][EXPORT[1]]
    assert list(operation["responses"]["200"]["content"]) == ["text/csv"]


async def test_export_sends_one_charset(api, admin_key) -> None:
    async with api.client(admin_key) as http:
        response = await http.get(EXPORT[0])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"


async def test_the_served_document_is_public_and_completed(api, document) -> None:
    response = await api.http.get("/schema/openapi.json")  # no key
    assert response.status_code == 200
    served = response.json()
    assert served == document
    assert served["paths"]["/health/live"]["get"]["security"] == []
    assert "requestBody" in served["paths"][INGEST[0]][INGEST[1]]


def test_year_prefix_is_the_contract_window() -> None:
    years = [y for y in range(1000, 3000) if re.match(YEAR_PREFIX, f"{y}-01-01")]
    assert years == list(range(EARLIEST_TIME.year, LATEST_TIME.year))
