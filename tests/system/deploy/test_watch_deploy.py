"""The monitoring files: the Grafana dashboard queries only metrics the services export,
Alertmanager's configuration is sound (amtool when installed), runbook links resolve."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY

from activitylog_retry import watcher

REPO = Path(__file__).resolve().parents[3]
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "activitylog.json"
ALERTMANAGER = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
COMPOSE = yaml.safe_load((REPO / "compose.yaml").read_text())
METRIC_MODULES = ("activitylog.runtime.metrics", "activitylog_api.metrics")
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}


def exported() -> set[str]:
    """Every sample name the services expose, from prometheus_client's registry."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    names: set[str] = set()
    for family in REGISTRY.collect():
        names |= {family.name + s for s in _SUFFIXES.get(family.type, ("",))}
    return names


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]


def slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def runbook_anchors() -> set[str]:
    text = (REPO / "docs" / "RUNBOOK.md").read_text()
    return {slug(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.M)}


def test_every_dashboard_query_names_metrics_the_services_export() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    names = exported()
    found = queries(dashboard)
    assert len(found) >= 10
    for title, expr in found:
        used = set(re.findall(r"\b(activitylog_[a-z0-9_]+)", expr))
        assert used, f"{title}: {expr} queries no activitylog metric"
        assert used <= names, f"{title}: not exported: {sorted(used - names)}"
    titles = " | ".join(p["title"].lower() for p in dashboard["panels"])
    for needed in (
        "source and category",
        "stream length and lag",
        "pending and dead",
        "commit latency",
        "api latency by route",
        "silence per watch rule",
    ):
        assert needed in titles, needed


def test_grafana_is_provisioned_with_this_dashboard_and_prometheus() -> None:
    grafana = COMPOSE["services"]["grafana"]
    assert grafana["profiles"] == ["monitoring"]
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    provider = yaml.safe_load(
        (REPO / "deploy/grafana/provisioning/dashboards/activitylog.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    (source,) = yaml.safe_load(
        (REPO / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"]
    assert source["url"] == "http://prometheus:9090"
    dashboard = json.loads(DASHBOARD.read_text())
    uids = {p["datasource"]["uid"] for p in dashboard["panels"]}
    assert uids == {source["uid"]}


def test_alertmanager_routes_every_alert_to_the_retry_services_webhook() -> None:
    config = yaml.safe_load(ALERTMANAGER.read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    routes = [config["route"], *config["route"].get("routes", [])]
    assert all(r["receiver"] in receivers for r in routes)
    assert "alertname" in config["route"]["group_by"]
    (slack,) = receivers[config["route"]["receiver"]]["slack_configs"]
    assert slack["send_resolved"] is True
    assert "runbook_url" in slack["text"]
    service = COMPOSE["services"]["alertmanager"]
    assert service["profiles"] == ["monitoring"]
    assert "./deploy/alertmanager:/etc/alertmanager:ro" in service["volumes"]
    # The file the webhook URL is written to at start is the one the receiver reads.
    command = " ".join(service["command"])
    assert f"> {slack['api_url_file']}" in command
    assert "ALERT_WEBHOOK_URL" in command
    prometheus = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    targets = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]


def test_amtool_accepts_the_alertmanager_config() -> None:
    amtool = shutil.which("amtool")  # .ci/run installs it (Debian: prometheus-alertmanager)
    assert amtool is not None, "amtool is not installed: apt-get install prometheus-alertmanager"
    result = subprocess.run(
        [amtool, "check-config", str(ALERTMANAGER)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_runbook_link_resolves_to_a_runbook_section() -> None:
    anchors = runbook_anchors()
    rules = yaml.safe_load((REPO / "deploy/prometheus/alerts.yml").read_text())
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        url = rule["annotations"].get("runbook_url", "")
        path, _, anchor = url.partition("#")
        assert path == "docs/RUNBOOK.md", f"{rule['alert']}: runbook_url {url!r}"
        assert anchor in anchors, f"{rule['alert']}: docs/RUNBOOK.md has no #{anchor}"
    # The retry service's own watch alerts point into the runbook too.
    source = Path(watcher.__file__).read_text()
    for anchor in re.findall(r"docs/RUNBOOK\.md#([\w-]+)", source):
        assert anchor in anchors, anchor
