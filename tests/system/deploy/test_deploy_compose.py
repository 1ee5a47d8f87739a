"""compose.yaml and .env.example, read with PyYAML: the stack an SRE starts must make sense."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
from deploy_support import (
    COMPOSE,
    ENV_EXAMPLE,
    REPO,
    SETTINGS,
    app_services,
    env_example_lines,
    interpolated_variables,
    load_compose,
    run_cli,
    with_defaults,
)

from activitylog.runtime.settings import Settings

COMPOSE_DATA = load_compose()
SERVICES: dict[str, dict[str, Any]] = COMPOSE_DATA["services"]
APP = app_services(COMPOSE_DATA)
# Every service but the one-shots (migrations, forming the Redis Cluster).
LONG_RUNNING = [name for name, svc in SERVICES.items() if svc.get("restart") != "no"]
# Settings the Redis Cluster work adds (issue 27); the cluster profile sets them already.
CLUSTER_STREAM_SETTINGS = {"REDIS_CLUSTER_NODES", "ACTIVITY_STREAM_SHARDS", "REDIS_WAIT_REPLICAS"}

# Variables the official images document (postgres, redis, and the monitoring exporters).
IMAGE_VARIABLES = {
    "postgres": {
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_DB",
        "POSTGRES_INITDB_ARGS",
        "POSTGRES_INITDB_WALDIR",
        "POSTGRES_HOST_AUTH_METHOD",
        "PGDATA",
    },
    "redis": set(),
    "prometheus": set(),
    "redis-exporter": {"REDIS_ADDR", "REDIS_USER", "REDIS_PASSWORD"},
    "postgres-exporter": {"DATA_SOURCE_NAME", "DATA_SOURCE_URI", "DATA_SOURCE_USER"},
    "alertmanager": set(),
    "grafana": {"GF_SECURITY_ADMIN_PASSWORD", "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"},
    # The cluster profile: the same images, the replica's password for pg_basebackup.
    **{f"cluster-redis-{i}": set() for i in range(1, 7)},
    "cluster-redis-init": set(),
    "cluster-postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
    "cluster-postgres-replica": {"PGPASSWORD"},
}


def environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    total = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration):
        total += float(amount) * units[unit]
    return total


def test_the_stack_has_every_role() -> None:
    assert {"postgres", "redis", "migrate", "api", "ingest", "retry"} <= set(SERVICES)
    assert SERVICES["prometheus"]["profiles"] == ["monitoring"]
    for name in ("postgres", "redis", "migrate", "api", "ingest", "retry"):
        assert "profiles" not in SERVICES[name], f"{name} must start with a plain `up`"
    assert {n for n, svc in APP.items() if "profiles" not in svc} == {
        "migrate",
        "api",
        "ingest",
        "retry",
    }
    # The lead sync needs the portal's database: off unless its profile is asked for.
    assert SERVICES["lead-sync"]["profiles"] == ["lead-sync"]
    images = {with_defaults(svc["image"]) for svc in APP.values()}
    assert len(images) == 1, f"every role runs the same image: {images}"
    for svc in APP.values():
        assert svc["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile"}


@pytest.mark.parametrize("name", sorted(APP))
def test_each_command_is_a_real_cli_subcommand(name: str) -> None:
    command = SERVICES[name]["command"]
    assert isinstance(command, list), "exec form, so the process receives SIGTERM itself"
    result = run_cli(*command, "--help")
    assert result.returncode == 0, (
        f"`activitylog {' '.join(command)} --help` failed:\n{result.stdout}{result.stderr}"
    )
    assert "Usage:" in result.stdout


def test_the_image_entrypoint_is_the_cli_the_commands_belong_to() -> None:
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["activitylog"]' in dockerfile
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["activitylog"] == "activitylog_cli.main:cli"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_environment_variable_is_a_real_setting(name: str) -> None:
    names = set(environment(SERVICES[name]))
    allowed = SETTINGS | CLUSTER_STREAM_SETTINGS if name in APP else IMAGE_VARIABLES[name]
    assert names <= allowed, f"{name} sets variables nothing reads: {sorted(names - allowed)}"


def test_environment_values_parse_as_settings() -> None:
    for name, svc in APP.items():
        values = {k.lower(): str(v) for k, v in with_defaults(environment(svc)).items()}
        settings = Settings.model_validate(values)
        assert settings.database_url, name
        assert settings.redis_url, name
        assert settings.log_format == "json", f"{name}: containers log JSON by default"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_service_has_a_healthcheck_and_restart_policy(name: str) -> None:
    svc = SERVICES[name]
    check = svc.get("healthcheck") or {}
    assert check.get("test"), f"{name} has no healthcheck"
    assert not check.get("disable"), f"{name} disables its healthcheck"
    assert check["test"][0] in ("CMD", "CMD-SHELL")
    assert svc.get("restart") in ("always", "unless-stopped", "on-failure"), name


def test_migrate_runs_once_and_every_service_waits_for_it() -> None:
    migrate = SERVICES["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "ingest", "retry"):
        deps = SERVICES[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["redis"]["condition"] == "service_healthy", name


def test_healthchecks_probe_the_ports_the_services_listen_on() -> None:
    api = SERVICES["api"]
    api_port = environment(api)["API_PORT"]
    assert api["healthcheck"]["test"][-1] == f"http://127.0.0.1:{api_port}/health/ready"
    assert api["ports"] == [f"${{API_PUBLISH_PORT:-8000}}:{api_port}"]
    for name in ("ingest", "retry"):
        port = environment(SERVICES[name])["METRICS_PORT"]
        assert int(port) > 0
        assert SERVICES[name]["healthcheck"]["test"][-1] == f"http://127.0.0.1:{port}/metrics"
    for name in ("api", "ingest", "retry"):
        probe = SERVICES[name]["healthcheck"]["test"]
        assert probe[1:3] == ["python", "/opt/activitylog/healthcheck.py"], name
    assert (
        "COPY deploy/healthcheck.py /opt/activitylog/healthcheck.py"
        in (REPO / "deploy" / "Dockerfile").read_text()
    )


def test_ingest_can_be_scaled() -> None:
    for name in ("ingest", "retry"):
        svc = SERVICES[name]
        assert "container_name" not in svc, f"{name}: a fixed name forbids --scale"
        assert "ports" not in svc, f"{name}: a host port forbids --scale"
        assert "hostname" not in svc, f"{name}: the hostname is each replica's consumer name"
        assert "INGEST_CONSUMER" not in environment(svc)
    inactive = {line.name for line in env_example_lines() if not line.active}
    assert "INGEST_CONSUMER" in inactive, ".env must not give every replica one consumer name"


def test_stop_grace_period_leaves_time_to_drain() -> None:
    for name in LONG_RUNNING:
        grace = SERVICES[name].get("stop_grace_period", "10s")
        assert seconds(grace) >= 10, f"{name}: {grace}"
    for name in ("api", "ingest", "retry"):
        assert SERVICES[name].get("init") is True, f"{name}: tini forwards signals, reaps"


def test_every_image_is_pinned_by_version() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    for name, svc in SERVICES.items():
        image = with_defaults(svc["image"])
        repository, _, tag = image.partition("@")[0].rpartition(":")
        assert repository, image
        assert tag, f"{name}: {image} has no tag"
        assert re.search(r"\d+\.\d+", tag), f"{name}: {image} is not pinned to a version"
        if name in APP:
            assert tag == version, f"{name}: tag {tag} is not the project version {version}"
    assert with_defaults(SERVICES["postgres"]["image"]).startswith("postgres:16.")
    assert with_defaults(SERVICES["redis"]["image"]).startswith("redis:7.")


def test_redis_keeps_what_it_accepted() -> None:
    command = with_defaults(SERVICES["redis"]["command"])
    assert command[:1] == ["redis-server"]
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] == "everysec"
    assert options["--maxmemory-policy"] == "noeviction"
    text = COMPOSE.read_text()
    assert re.search(r"#[^\n]*REDIS_APPENDFSYNC=always[^\n]*no loss", text), "explain `always`"
    for name in ("postgres", "redis"):
        volumes = SERVICES[name]["volumes"]
        assert volumes[0].split(":")[0] in COMPOSE_DATA["volumes"], f"{name}: named volume"


def test_no_host_port_for_the_databases() -> None:
    servers = [
        n
        for n, svc in SERVICES.items()
        if with_defaults(svc["image"]).startswith(("postgres:", "redis:"))
    ]
    assert len(servers) == 2 + 6 + 1 + 2  # the stack's two, and the cluster profile's
    for name in servers:
        assert "ports" not in SERVICES[name], f"{name} stays on the compose network"


# --- .env.example ------------------------------------------------------------------------

COMPOSE_VARIABLES = interpolated_variables(COMPOSE.read_text())


def test_env_example_lists_only_real_settings_or_compose_variables() -> None:
    lines = env_example_lines()
    assert lines, f"{ENV_EXAMPLE} has no variables"
    unknown = [
        f"{ln.line}: {ln.name}" for ln in lines if ln.name not in SETTINGS | set(COMPOSE_VARIABLES)
    ]
    assert not unknown, f"not a setting nor a compose variable: {unknown}"
    names = [ln.name for ln in lines]
    duplicates = {n for n in names if names.count(n) > 1}
    assert not duplicates, f"listed twice: {duplicates}"


def test_env_example_lists_every_setting_and_compose_variable() -> None:
    listed = {ln.name for ln in env_example_lines()}
    assert not (SETTINGS - listed), (
        f"settings missing from .env.example: {sorted(SETTINGS - listed)}"
    )
    missing = set(COMPOSE_VARIABLES) - listed
    assert not missing, f"compose.yaml reads variables .env.example omits: {sorted(missing)}"


def test_env_example_values_are_the_defaults() -> None:
    defaults = Settings.model_construct()
    for line in env_example_lines():
        if not line.active:
            continue
        if line.name in COMPOSE_VARIABLES:
            assert line.value == COMPOSE_VARIABLES[line.name], line
            continue
        field = line.name.lower()
        parsed = getattr(Settings.model_validate({field: line.value}), field)
        assert parsed == getattr(defaults, field), f"{line.name}={line.value} is not the default"


def test_env_example_does_not_set_what_compose_overrides() -> None:
    # An active line compose silently overrides would mislead whoever edits .env.
    active = {ln.name for ln in env_example_lines() if ln.active}
    for name, svc in APP.items():
        for key, value in environment(svc).items():
            if f"${{{key}" not in str(value):
                assert key not in active, f"{key} is fixed by compose.yaml for {name}"
