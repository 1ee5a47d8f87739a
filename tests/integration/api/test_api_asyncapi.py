"""The API serves the stream's AsyncAPI document and a page of it, without a key."""

from __future__ import annotations

import html

import yaml

from activitylog.contract.asyncapi import FIELD_DESCRIPTIONS, asyncapi_document
from activitylog_testing.serving import ServedApi


async def test_document_json_and_yaml_are_public_and_name_the_configured_stream(
    api: ServedApi,
) -> None:
    stream = api.settings.activity_stream
    expected = asyncapi_document(stream)
    as_json = await api.http.get("/asyncapi.json")
    assert as_json.status_code == 200, as_json.text
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_json.json() == expected
    assert [c["address"] for c in expected["channels"].values()] == [stream]
    as_yaml = await api.http.get("/asyncapi.yaml")
    assert as_yaml.status_code == 200
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(as_yaml.text) == expected


async def test_page_lists_channel_fields_and_limits_and_cannot_publish(api: ServedApi) -> None:
    page = await api.http.get("/asyncapi")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # No script at all (so no "try it out" and no CDN), and the browser may load none.
    assert "<script" not in page.text.lower()
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    text = html.unescape(page.text)
    assert f"Channel {api.settings.activity_stream}" in " ".join(
        text.replace("<code>", "").replace("</code>", "").split()
    )
    for name, description in FIELD_DESCRIPTIONS.items():
        assert f"<code>{name}</code>" in text
        assert description in text
    assert "maxEventBytes" in text
    assert "MESSAGE_DELIVERED" in text  # the event types are listed


async def test_asyncapi_routes_stay_out_of_the_openapi_document(api: ServedApi) -> None:
    openapi = (await api.http.get("/schema/openapi.json")).json()
    assert not [path for path in openapi["paths"] if path.startswith("/asyncapi")]
