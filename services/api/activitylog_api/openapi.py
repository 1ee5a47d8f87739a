"""The OpenAPI document at /schema: error responses, per-route security and request bodies.

Routes declare their answers with `responses=error_responses(...)` and a body they read
themselves with `opt=request_body(...)`; `complete_document` adds what Litestar cannot
declare per route (security from the guards, Retry-After on 503, the body schemas).
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any

from litestar import Litestar
from litestar.enums import ParamType
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Components,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
)
from litestar.params import QueryParameter
from litestar.routes import HTTPRoute
from pydantic import BaseModel

from activitylog.contract import events, tracking_plan
from activitylog.contract.references import AIRTABLE_ID_PATTERN
from activitylog.contract.taxonomy import TYPES_OF
from activitylog.contract.times import LATEST_TIME, TIME_WINDOW_TEXT
from activitylog.domain.reads.cursor import MAX_CURSOR_CHARS
from activitylog.domain.reads.params import VALID_CATEGORIES, VALID_TYPES
from activitylog_api.auth import KEY_HEADER, ApiKeyGuard
from activitylog_api.views import ErrorBody

API_KEY_SCHEME = "apiKey"
REQUEST_BODY_OPT = "openapi_request_body"
# A JSON route's handler option: the query parameters it documents (any other is a 400).
QUERY_NAMES_OPT = "query_parameter_names"
# Fields of a schema kept for older clients, with what replaces them.
DEPRECATED_FIELDS = {"TimelineItem": ("message", "details")}
_COMPONENTS = "#/components/schemas/"

_ERROR_DESCRIPTIONS = {
    400: "Invalid request: `error` says why and `errors` names each bad field",
    401: f"Missing, unknown or revoked API key (header `{KEY_HEADER}`)",
    403: "The key's role (or client) may not use this route",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "The request body is too large",
    415: "The body is not JSON: send `Content-Type: application/json`, uncompressed",
    503: "PostgreSQL or Redis is unavailable; retry after `Retry-After` seconds",
}
# Statuses every route guarded by an API key can answer, besides its own.
KEY_ERRORS = (400, 401, 403, 503)

# Any query or path parameter holding NUL is refused (PostgreSQL text cannot hold it).
NO_NUL = "^[^\\u0000]*$"


# What the document says of a cursor (`cursor=0` is not one): blank (absent), or base64url
# text starting as every cursor's JSON does, `{"k":"`. Only a page's nextCursor is sure to
# be read, as the parameter's description says.
CURSOR_PARAM = {
    "one_of": None,
    "type": "string",
    "max_length": MAX_CURSOR_CHARS,
    "pattern": "^(eyJrIjoi[A-Za-z0-9_-]*)?$",
}

# The years of the contract's window of instants (activitylog.events.utc_in_window);
# tests/api/test_api_openapi.py checks it against EARLIEST_TIME and LATEST_TIME.
YEAR_PREFIX = "^(19[7-9][0-9]|20[0-9]{2})-"


def param_schema(**schema: Any) -> dict[str, Any]:
    """`schema_extra=` for an optional parameter the route parses itself: replaces
    Litestar's `string | null` (a parameter is absent, never null)."""
    return {"one_of": None, **schema}


# A blank value of an optional parameter counts as absent.
_BLANK = Schema(type=OpenAPIType.STRING, pattern=r"^[ \t\r\n]*$")


def _or_blank(*schemas: Schema) -> dict[str, Any]:
    return param_schema(any_of=[*schemas, _BLANK])


def text_param(max_length: int) -> dict[str, Any]:
    """Free text (stripped; empty means absent), at most `max_length` characters."""
    return param_schema(type=OpenAPIType.STRING, max_length=max_length, pattern=NO_NUL)


def list_param(values: list[str]) -> dict[str, Any]:
    """One value or several separated by commas (`style: form, explode: false`)."""
    return param_schema(
        type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING, enum=list(values))
    )


UUID_PARAM = _or_blank(Schema(type=OpenAPIType.STRING, format="uuid"))
AIRTABLE_ID_PARAM = _or_blank(Schema(type=OpenAPIType.STRING, pattern=AIRTABLE_ID_PATTERN))
INSTANT_PARAM = _or_blank(
    Schema(type=OpenAPIType.STRING, format="date", pattern=YEAR_PREFIX),
    Schema(type=OpenAPIType.STRING, format="date-time", pattern=YEAR_PREFIX),
)
INSTANT_TEXT = f"ISO-8601 date or date-time (UTC without an offset), inclusive; {TIME_WINDOW_TEXT}"

# Text is trimmed before it is checked, of Unicode's White_Space (pydantic's trim): not a
# JSON Schema validator's `\s` (ECMA and Rust add U+FEFF), nor Python's (U+001C–U+001F), so
# the document spells the set out (events.TRIMMED) instead of writing `\s` or `\S`.
_PY_SPACE = events.TRIMMED
SPACE, NOT_SPACE = f"[{_PY_SPACE}]", f"[^{_PY_SPACE}]"
# Not blank once trimmed (a pattern is a search: somewhere in the text).
NOT_BLANK = NOT_SPACE
# activitylog.events.SOURCE_PATTERN as sent, before trimming: `kind:` and a first character
# that is not a space, at most 198 more on the line, the last one not a space either.
SOURCE_AS_SENT = f"^{SPACE}*(n8n|ui|system):{NOT_SPACE}(?:[^\n]{{0,197}}{NOT_SPACE})?{SPACE}*$"

# What ActivityEvent's validators check beyond its fields' JSON schema: a lead, a category
# matching the type, the source's shape, text that is not blank, the time window.
EVENT_RULES: dict[str, Any] = {
    "allOf": [
        tracking_plan.lead_rule(),
        *tracking_plan.metadata_rules(),
        {
            "anyOf": [
                {
                    "properties": {
                        "eventType": {"enum": [t.value for t in types]},
                        "eventCategory": {"enum": [category.value, None]},
                    }
                }
                for category, types in TYPES_OF.items()
            ]
        },
    ],
    "properties": {
        "source": {"pattern": SOURCE_AS_SENT},
        "description": {"pattern": NOT_BLANK},
        "executionId": {"pattern": NOT_BLANK},
        "timestamp": {"pattern": YEAR_PREFIX},
    },
    "branches": {
        "timestamp": [
            {
                "type": "number",
                "minimum": 0,
                "exclusiveMaximum": LATEST_TIME.timestamp(),
                "description": "Unix seconds",
            }
        ]
    },
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """`responses=` for a route: each status with the one error body (`views.ErrorBody`)."""
    return {
        status: ResponseSpec(
            data_container=ErrorBody,
            description=_ERROR_DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            generate_examples=False,
        )
        for status in sorted(set(statuses))
    }


@dataclass(frozen=True, slots=True)
class BodyDoc:
    """A request body a route reads itself (so Litestar cannot describe it)."""

    model: type[BaseModel] | None
    description: str
    required: bool = True
    schema: dict[str, Any] | None = None  # a literal schema, when there is no model
    max_items: int | None = None  # set: one object or an array of 1..max_items of them
    rules: dict[str, Any] | None = None  # what the model's validators add (`_add_rules`)


def request_body(
    model: type[BaseModel] | None,
    description: str,
    *,
    required: bool = True,
    schema: dict[str, Any] | None = None,
    max_items: int | None = None,
    rules: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`opt=` for a route that reads its body itself: what the document says it accepts."""
    return {REQUEST_BODY_OPT: BodyDoc(model, description, required, schema, max_items, rules)}


def openapi_config() -> OpenAPIConfig:
    """The document's config; security is set per operation by `complete_document`."""
    return OpenAPIConfig(
        title="Lead activity log API",
        version="1.0.0",
        path="/schema",
        components=Components(
            security_schemes={
                API_KEY_SCHEME: SecurityScheme(
                    type="apiKey",
                    name=KEY_HEADER,
                    security_scheme_in="header",
                    description="An API key (`activitylog keys create`); its role decides "
                    "which routes it may use.",
                )
            }
        ),
    )


def _add_rules(schema: dict[str, Any], rules: dict[str, Any]) -> None:
    """Merge `rules` into a model's schema: `allOf` entries, keywords per property (on the
    string branch of an optional property) and more `anyOf` branches per property."""
    schema.setdefault("allOf", []).extend(rules.get("allOf", []))
    for name, keywords in rules.get("properties", {}).items():
        prop = schema["properties"][name]
        branches = [b for b in prop.get("anyOf", []) if b.get("type") == "string"]
        (branches[0] if branches else prop).update(keywords)
    for name, more in rules.get("branches", {}).items():
        schema["properties"][name]["anyOf"].extend(more)


def _model_schema(
    model: type[BaseModel], components: dict[str, Any], rules: dict[str, Any] | None
) -> Reference:
    """Add the model's JSON schema (by alias, as clients send it) to the components."""
    schema = model.model_json_schema(
        by_alias=True, mode="validation", ref_template=_COMPONENTS + "{model}"
    )
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    if rules:
        _add_rules(schema, rules)
    name = schema.get("title", model.__name__)
    components[name] = schema
    return Reference(ref=_COMPONENTS + name)


def _body(doc: BodyDoc, components: dict[str, Any]) -> RequestBody:
    one: Reference | dict[str, Any] = (
        _model_schema(doc.model, components, doc.rules)
        if doc.model is not None
        else (doc.schema or {})
    )
    schema: Any = one
    if doc.max_items is not None:
        many = Schema(type=OpenAPIType.ARRAY, items=one, min_items=1, max_items=doc.max_items)  # type: ignore[arg-type]
        schema = Schema(one_of=[one, many])  # type: ignore[list-item]
    return RequestBody(
        content={"application/json": OpenAPIMediaType(schema=schema)},
        description=doc.description,
        required=doc.required,
    )


def complete_document(app: Litestar) -> None:
    """Security per operation (from its guards), Retry-After on 503s, the read bodies."""
    openapi = app.openapi_schema
    components: dict[str, Any] = openapi.components.schemas  # type: ignore[assignment]
    retry_after = OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING, pattern=r"^\d+$"),
        description="Seconds to wait before retrying",
        required=True,
    )
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or openapi.paths is None:
            continue
        item = openapi.paths.get(route.path_format)
        for method, (handler, _) in route.route_handler_map.items():
            operation = getattr(item, method.lower(), None) if item is not None else None
            if operation is None:
                continue
            keyed = any(isinstance(g, ApiKeyGuard) for g in handler.resolve_guards())
            operation.security = [{API_KEY_SCHEME: []}] if keyed else []
            for status, response in (operation.responses or {}).items():
                if status == "503" and isinstance(response, OpenAPIResponse):
                    response.headers = {**(response.headers or {}), "Retry-After": retry_after}
            for parameter in operation.parameters or []:
                schema = getattr(parameter, "schema", None)
                if getattr(schema, "type", None) == OpenAPIType.ARRAY:
                    parameter.style, parameter.explode = "form", False
            doc = handler.opt.get(REQUEST_BODY_OPT)
            if isinstance(doc, BodyDoc):
                operation.request_body = _body(doc, components)
            if route.path_format.startswith("/api/"):
                queries = [p for p in operation.parameters or [] if _in_query(p)]
                handler.opt[QUERY_NAMES_OPT] = frozenset(getattr(p, "name", "") for p in queries)
    _mark_deprecated(components)


def _in_query(parameter: Any) -> bool:
    return getattr(parameter, "param_in", None) == ParamType.QUERY


def _mark_deprecated(components: dict[str, Any]) -> None:
    for schema_name, fields in DEPRECATED_FIELDS.items():
        schema = components.get(schema_name)
        for field in fields:
            prop = (getattr(schema, "properties", None) or {}).get(field)
            if prop is not None:
                prop.deprecated = True


# The date-range parameters every read route takes, declared once.
DateFrom = Annotated[
    str | None,
    QueryParameter(name="dateFrom", description=INSTANT_TEXT, schema_extra=INSTANT_PARAM),
]
DateTo = Annotated[
    str | None,
    QueryParameter(
        name="dateTo",
        description=f"{INSTANT_TEXT}; not before dateFrom; a bare date covers its whole day",
        schema_extra=INSTANT_PARAM,
    ),
]
# The client filter of the browser and analytics routes; a portal key is pinned to its own.
ClientIdParam = Annotated[
    str | None,
    QueryParameter(
        name="clientId",
        description="a portal key may only name its own client (403 otherwise)",
        schema_extra=UUID_PARAM,
    ),
]
# The author filter of the browser and timeline routes: events whose `createdBy` is this user.
CreatedByParam = Annotated[
    str | None,
    QueryParameter(
        name="createdBy",
        description="the portal user (UUID) behind the events, as their `createdBy` names them",
        schema_extra=UUID_PARAM,
    ),
]
# The category and type filters of the browser and timeline routes (`eventCategory` is the
# event's own name for the category; both given, either matches).
CategoryParam = Annotated[
    str | None,
    QueryParameter(
        description="a category, or several separated by commas",
        schema_extra=list_param(VALID_CATEGORIES),
    ),
]
EventCategoryParam = Annotated[
    str | None,
    QueryParameter(
        name="eventCategory",
        description="the same filter as `category`, by the event's field name; both given, "
        "either matches",
        schema_extra=list_param(VALID_CATEGORIES),
    ),
]
EventTypeParam = Annotated[
    str | None,
    QueryParameter(
        name="eventType",
        description="an event type, or several separated by commas",
        schema_extra=list_param(VALID_TYPES),
    ),
]
