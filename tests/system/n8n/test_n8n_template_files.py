"""The template files themselves (no n8n needed): their links to each other hold, and the
README beside them names every credential, variable and webhook path they use."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from n8n_support import API_KEY_CREDENTIAL, POSTGRES_CREDENTIAL, TEMPLATES

from activitylog.contract.identity import EVENT_ID_NAMESPACE

LOG_ACTIVITY = "log-activity.json"
FALLBACK = "log-activity-fallback.json"
ERROR_ALERT = "error-alert.json"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((TEMPLATES / name).read_text())
    return data


def templates() -> list[Path]:
    return sorted(TEMPLATES.glob("*.json"))


def nodes_of(type_: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, node)
        for path in templates()
        for node in load(path.name)["nodes"]
        if node["type"] == type_
    ]


def test_every_template_is_an_importable_workflow_with_a_fixed_id() -> None:
    ids = set()
    for path in templates():
        workflow = load(path.name)
        assert {"id", "name", "nodes", "connections", "versionId"} <= workflow.keys(), path
        assert workflow["active"] is False, f"{path.name}: imports inactive; activate by hand"
        ids.add(workflow["id"])
        names = {node["name"] for node in workflow["nodes"]}
        for source, outputs in workflow["connections"].items():
            assert source in names, f"{path.name}: connection from unknown node {source}"
            for output in outputs["main"]:
                for target in output:
                    assert target["node"] in names, f"{path.name}: to unknown {target['node']}"
    assert len(ids) == len(templates())


PRODUCERS = {
    "calendly.json",
    "simpletexting-delivery.json",
    "simpletexting-inbound.json",
    "sms-scheduler.json",
}


def test_producers_call_log_activity_and_report_to_the_error_workflow() -> None:
    log_activity, fallback = load(LOG_ACTIVITY)["id"], load(FALLBACK)["id"]
    error_alert = load(ERROR_ALERT)["id"]
    calls = nodes_of("n8n-nodes-base.executeWorkflow")
    assert {name for name, _ in calls} == PRODUCERS | {LOG_ACTIVITY}
    for name, node in calls:
        expected = fallback if name == LOG_ACTIVITY else log_activity
        assert node["parameters"]["workflowId"]["value"] == expected, name
    for path in templates():
        if path.name != ERROR_ALERT:
            assert load(path.name)["settings"]["errorWorkflow"] == error_alert, path.name


def test_the_basic_path_needs_only_the_api_key_credential() -> None:
    # n8n checks every credential a workflow's nodes name before it runs that workflow, so
    # the fallback's database credential lives in a workflow of its own, run only on failure.
    for path in templates():
        credentials = {
            (kind, ref["name"])
            for node in load(path.name)["nodes"]
            for kind, ref in node.get("credentials", {}).items()
        }
        if path.name == FALLBACK:
            assert credentials == {("postgres", POSTGRES_CREDENTIAL[1])}
        elif path.name == "sms-scheduler.json":
            assert credentials == {("httpBearerAuth", "SimpleTexting API")}
        elif path.name == LOG_ACTIVITY:
            assert credentials == {("httpHeaderAuth", API_KEY_CREDENTIAL[1])}
        else:
            assert credentials == set(), path.name
    assert [name for name, _ in nodes_of("n8n-nodes-base.postgres")] == [FALLBACK]


def test_no_producer_drops_an_event_it_cannot_place() -> None:
    # The activity log places (or parks) an event by its lead reference; a flow that
    # returned nothing for an unknown lead would lose it without a trace. The scheduler's
    # *Messages due* is a placeholder that users replace: "no messages due" drops nothing.
    for name in sorted(PRODUCERS):
        for node in load(name)["nodes"]:
            code = node["parameters"].get("jsCode", "")
            if node["name"] != "Messages due":
                assert "return [];" not in code, f"{name}: {node['name']}"
                assert "return []" not in code.replace("return [{", ""), f"{name}: {node['name']}"


def test_the_api_call_retries_three_times_and_falls_back_on_its_error_output() -> None:
    workflow = load(LOG_ACTIVITY)
    post = next(n for n in workflow["nodes"] if n["name"] == "POST to activity log")
    assert post["parameters"]["url"].endswith("/api/internal/log-activity")
    assert post["credentials"]["httpHeaderAuth"]["id"] == API_KEY_CREDENTIAL[0]
    assert (post["retryOnFail"], post["maxTries"], post["onError"]) == (
        True,
        3,
        "continueErrorOutput",
    )
    assert post["waitBetweenTries"] > 0
    error_output = workflow["connections"]["POST to activity log"]["main"][1]
    assert [t["node"] for t in error_output] == ["Failed requests"]
    then = workflow["connections"]["Failed requests"]["main"][0]
    assert [t["node"] for t in then] == ["Fall back to retry_queue"]
    fallback = load(FALLBACK)
    write = next(n for n in fallback["nodes"] if n["name"] == "Write to retry_queue")
    assert write["credentials"]["postgres"]["id"] == POSTGRES_CREDENTIAL[0]


@pytest.mark.parametrize("kind", ["credential", "variable", "webhook path"])
def test_the_readme_names_what_the_templates_need(kind: str) -> None:
    readme = (TEMPLATES / "README.md").read_text()
    text = "\n".join(path.read_text() for path in templates())
    if kind == "credential":
        needed = {m for m in re.findall(r'"name": "([^"]+)"\s*}', text)} & {
            API_KEY_CREDENTIAL[1],
            POSTGRES_CREDENTIAL[1],
            "SimpleTexting API",
        }
        assert len(needed) == 3
    elif kind == "variable":
        needed = set(re.findall(r"\$env\.([A-Z_]+)", text))
        assert "ACTIVITYLOG_API_URL" in needed
    else:
        needed = {node["parameters"]["path"] for _, node in nodes_of("n8n-nodes-base.webhook")}
    missing = {name for name in needed if name not in readme}
    assert not missing, f"README.md does not mention {missing}"


def _uuid5_in_node(names: list[str]) -> list[str]:
    """The template's own SHA-1/UUIDv5 code (from its Build events node), run by node."""
    build = next(n for n in load(LOG_ACTIVITY)["nodes"] if n["name"] == "Build events")
    code = build["parameters"]["jsCode"]
    functions = code[code.index("const NAMESPACE") : code.index("const now =")]
    script = (
        functions
        + "const names = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n"
        + "process.stdout.write(JSON.stringify(names.map(uuid5)));\n"
    )
    result = subprocess.run(
        ["node", "-e", script], input=json.dumps(names), capture_output=True, text=True, check=True
    )
    ids: list[str] = json.loads(result.stdout)
    return ids


@settings(max_examples=5, deadline=None)
@given(st.lists(st.text(max_size=300), min_size=1, max_size=40))
def test_event_ids_from_the_template_are_the_contracts_uuid5(names: list[str]) -> None:
    # Names straddle SHA-1's 55/56/64-byte padding edges and hold multi-byte characters.
    names = [*names, "x" * 55, "x" * 56, "é" * 32, "n8n:n8n:wf:12:0:MESSAGE_SENT:recAAA"]
    expected = [str(uuid.uuid5(EVENT_ID_NAMESPACE, name)) for name in names]
    assert _uuid5_in_node(names) == expected


def _build_events(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The template's Build events node run by node on `items`, with n8n's $input,
    $workflow and $execution as a Code node sees them; the events it would POST."""
    build = next(n for n in load(LOG_ACTIVITY)["nodes"] if n["name"] == "Build events")
    script = (
        "const items = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n"
        "const $input = { all: () => items.map((json) => ({ json })) };\n"
        "const $workflow = { id: 'wfTest' };\n"
        "const $execution = { id: '4242' };\n"
        "const out = (() => {\n" + build["parameters"]["jsCode"] + "\n})();\n"
        "process.stdout.write(JSON.stringify(out.flatMap((r) => r.json.events)));\n"
    )
    result = subprocess.run(
        ["node", "-e", script], input=json.dumps(items), capture_output=True, text=True, check=True
    )
    events: list[dict[str, Any]] = json.loads(result.stdout)
    return events


def test_an_sms_fact_naming_its_message_leaves_its_id_to_the_activity_log() -> None:
    base = {"leadPhone": "4085550001", "description": "x", "workflowId": "wfTest"}
    sms = {"provider": "simpletexting", "messageId": "65f1c0a94b3a2e0012ab3400"}
    events = _build_events(
        [
            {**base, "eventType": "MESSAGE_DELIVERED", "metadata": sms},
            {**base, "eventType": "message_sent", "metadata": {"simpletexting_id": "65f1"}},
            # No message id (a refused send), or not an SMS fact: the id is fixed here.
            {**base, "eventType": "MESSAGE_FAILED", "metadata": {"provider": "simpletexting"}},
            {**base, "eventType": "NOTE_ADDED", "metadata": sms},
            {**base, "eventType": "MESSAGE_SENT", "metadata": sms, "eventId": "given"},
        ]
    )
    assert ["eventId" in e for e in events] == [False, False, True, True, True]
    assert events[4]["eventId"] == "given"
    failed = events[2]
    name = "n8n:n8n:wfTest:4242:2:MESSAGE_FAILED:4085550001"
    assert failed["eventId"] == str(uuid.uuid5(EVENT_ID_NAMESPACE, name))
    # The lead reference and the time travel with the event either way.
    assert {e["leadPhone"] for e in events} == {"4085550001"}
    assert all(e["timestamp"] for e in events)
