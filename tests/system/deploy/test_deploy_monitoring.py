"""The monitoring profile: Prometheus scrapes every service, and every alert is real."""

from __future__ import annotations

import importlib
import re
from typing import Any

import yaml
from deploy_support import REPO, load_compose
from prometheus_client import REGISTRY

PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
CONFIG = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
RULES = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
RUNBOOK = (REPO / "docs" / "RUNBOOK.md").read_text()
COMPOSE = load_compose()

# Modules that define the Prometheus metrics of the three services.
METRIC_MODULES = ("activitylog.runtime.metrics", "activitylog_api.metrics")


def jobs() -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in CONFIG["scrape_configs"]}


def targets(job: dict[str, Any]) -> set[tuple[str, int]]:
    found = set()
    for sd in job.get("dns_sd_configs", []):
        found |= {(name, int(sd["port"])) for name in sd["names"]}
    for static in job.get("static_configs", []):
        for target in static["targets"]:
            host, _, port = target.rpartition(":")
            found.add((host, int(port)))
    return found


def rules() -> list[dict[str, Any]]:
    return [rule for group in RULES["groups"] for rule in group["rules"]]


def exported_names() -> set[str]:
    """Every sample name the services can expose, from the metric definitions themselves."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("", "_count", "_sum", "_created"),
        "info": ("_info",),
    }
    names = set()
    for family in REGISTRY.collect():
        names |= {family.name + s for s in suffixes.get(family.type, ("",))}
    return names


def test_every_service_metrics_port_is_scraped() -> None:
    services = COMPOSE["services"]
    api_port = int(services["api"]["environment"]["API_PORT"])
    expected = {
        "activitylog-api": ("api", api_port),
        "activitylog-ingest": ("ingest", int(services["ingest"]["environment"]["METRICS_PORT"])),
        "activitylog-retry": ("retry", int(services["retry"]["environment"]["METRICS_PORT"])),
        "redis": ("redis-exporter", 9121),
        "postgres": ("postgres-exporter", 9187),
    }
    all_jobs = jobs()
    for job_name, target in expected.items():
        assert job_name in all_jobs, job_name
        assert target in targets(all_jobs[job_name]), (job_name, targets(all_jobs[job_name]))
        assert all_jobs[job_name].get("metrics_path", "/metrics") == "/metrics"
        assert target[0] in services, f"{job_name} scrapes {target[0]}, not a compose service"
    # Scaled services must be discovered by DNS so every replica is a target.
    for job_name in ("activitylog-ingest", "activitylog-retry", "activitylog-api"):
        assert all_jobs[job_name].get("dns_sd_configs"), job_name


def test_prometheus_container_reads_this_config() -> None:
    prometheus = COMPOSE["services"]["prometheus"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    for path in CONFIG["rule_files"]:
        assert path.startswith("/etc/prometheus/")
        assert (PROMETHEUS_DIR / path.removeprefix("/etc/prometheus/")).is_file(), path


def test_every_alert_is_complete_and_in_the_runbook() -> None:
    headings = {m.strip().lower() for m in re.findall(r"^#{2,4}\s+`?([\w-]+)`?\s*$", RUNBOOK, re.M)}
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names)), "alert names are unique"
    for rule in rules():
        assert rule["expr"].strip(), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert anchor == rule["alert"].lower()
        assert anchor in headings, f"docs/RUNBOOK.md has no section `### {rule['alert']}`"


def test_alerts_use_only_metrics_the_services_export() -> None:
    exported = exported_names()
    for rule in rules():
        used = set(re.findall(r"\b(activitylog_\w+)", rule["expr"]))
        unknown = used - exported
        assert not unknown, f"{rule['alert']} uses metrics no service exports: {unknown}"
