"""The stream's AsyncAPI document (/asyncapi.json, /asyncapi.yaml) and a page reading it.

Public like /schema: it describes the contract, never data. The page is rendered here from
the document, with no script, so it works offline and cannot publish anything.
"""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get
from litestar.datastructures import ResponseHeader
from litestar.response import Template

from activitylog.contract.asyncapi import EVENT_SCHEMA, asyncapi_document, asyncapi_yaml

ASYNCAPI_PATHS = ("/asyncapi", "/asyncapi.json", "/asyncapi.yaml")
_HEADERS = [
    ResponseHeader(name="Cache-Control", value="public, max-age=300"),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
]
_PAGE_HEADERS = [
    *_HEADERS,
    ResponseHeader(
        name="Content-Security-Policy",
        value="default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    ),
]


def _stream(request: Request[Any, Any, Any]) -> str:
    return str(request.app.state.settings.activity_stream)


@get("/asyncapi.json", include_in_schema=False, response_headers=_HEADERS)
async def asyncapi_json(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    return Response(asyncapi_document(_stream(request)), media_type=MediaType.JSON)


@get("/asyncapi.yaml", include_in_schema=False, response_headers=_HEADERS)
async def asyncapi_yaml_file(request: Request[Any, Any, Any]) -> Response[str]:
    return Response(asyncapi_yaml(_stream(request)), media_type="application/yaml")


def _type_of(schema: dict[str, Any]) -> str:
    """A JSON schema as a short type: `string (uuid)`, `EventType`, `string | number`."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        kinds = [_type_of(s) for s in schema["anyOf"] if s.get("type") != "null"]
        return " | ".join(dict.fromkeys(kinds))
    kind = str(schema.get("type", "any"))
    return f"{kind} ({schema['format']})" if "format" in schema else kind


def page_context(document: dict[str, Any]) -> dict[str, Any]:
    """What the page shows, read from the document: channels, their messages, the fields."""
    schemas = document["components"]["schemas"]
    event = schemas[EVENT_SCHEMA]
    required = set(event.get("required", []))
    # Fields of which one is required (the lead rule): each is marked "one of".
    one_of = {
        name
        for rule in event.get("allOf", [])
        for option in rule.get("anyOf", [])
        for name in option.get("required", [])
    }
    fields = [
        {
            "name": name,
            "type": _type_of(prop),
            "required": "yes" if name in required else "one of" if name in one_of else "",
            "description": prop.get("description", ""),
        }
        for name, prop in event["properties"].items()
    ]
    enums = {
        name: schema["enum"]
        for name, schema in schemas.items()
        if name != EVENT_SCHEMA and "enum" in schema
    }
    channels = [
        {"address": channel["address"], "description": channel.get("description", "")}
        for channel in document["channels"].values()
    ]
    messages = list(document["components"]["messages"].values())
    return {
        "info": document["info"],
        "asyncapi": document["asyncapi"],
        "channels": channels,
        "messages": messages,
        "fields": fields,
        "enums": enums,
    }


@get(
    "/asyncapi",
    include_in_schema=False,
    media_type=MediaType.HTML,
    response_headers=_PAGE_HEADERS,
)
async def asyncapi_page(request: Request[Any, Any, Any]) -> Template:
    document = asyncapi_document(_stream(request))
    return Template(template_name="asyncapi.html", context=page_context(document))


ASYNCAPI_ROUTES = [asyncapi_json, asyncapi_yaml_file, asyncapi_page]
