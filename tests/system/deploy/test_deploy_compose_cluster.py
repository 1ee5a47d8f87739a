"""compose.yaml's `cluster` profile, read with PyYAML (no Docker engine here): a Redis Cluster
of 3 masters and 3 replicas formed by a one-shot, a PostgreSQL primary and its streaming
replica, and the services pointed at them."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from deploy_support import REPO, app_services, load_compose, with_defaults

COMPOSE_DATA = load_compose()
SERVICES: dict[str, dict[str, Any]] = COMPOSE_DATA["services"]
PROFILE = {name: svc for name, svc in SERVICES.items() if svc.get("profiles") == ["cluster"]}
APP = {name: svc for name, svc in app_services(COMPOSE_DATA).items() if name in PROFILE}
NODES = sorted(
    name for name, svc in PROFILE.items() if "--cluster-enabled" in (svc.get("command") or [])
)


def env(name: str) -> dict[str, str]:
    return {k: str(v) for k, v in with_defaults(SERVICES[name].get("environment") or {}).items()}


def options(command: list[str]) -> dict[str, str]:
    flags = [i for i, part in enumerate(command) if part.startswith("--")]
    return {command[i]: command[i + 1] for i in flags if i + 1 < len(command)}


def deps(name: str) -> dict[str, str]:
    return {dep: cond["condition"] for dep, cond in SERVICES[name]["depends_on"].items()}


def test_the_profile_has_every_part() -> None:
    assert set(APP) == {"cluster-migrate", "cluster-api", "cluster-ingest", "cluster-retry"}
    assert len(NODES) == 6
    assert {"cluster-redis-init", "cluster-postgres", "cluster-postgres-replica"} <= set(PROFILE)
    # Nothing of the plain stack changes: its services start without any profile.
    for name in ("postgres", "redis", "migrate", "api", "ingest", "retry"):
        assert "profiles" not in SERVICES[name]


def test_each_node_is_a_persistent_cluster_node() -> None:
    for name in NODES:
        node = options(SERVICES[name]["command"])
        assert node["--cluster-enabled"] == "yes"
        assert node["--cluster-config-file"] == "nodes.conf"
        # Clients are sent to the node by its service name, which outlives its address.
        assert node["--cluster-announce-hostname"] == name
        assert node["--cluster-preferred-endpoint-type"] == "hostname"
        # The stream's durability rules of the single Redis hold on every node.
        assert node["--appendonly"] == "yes"
        assert node["--maxmemory-policy"] == "noeviction"
        volume = SERVICES[name]["volumes"][0].split(":")[0]
        assert volume in COMPOSE_DATA["volumes"], name
        assert "redis-cli ping" in SERVICES[name]["healthcheck"]["test"][-1]
    volumes = {SERVICES[n]["volumes"][0].split(":")[0] for n in NODES}
    assert len(volumes) == 6, "each node keeps its own nodes.conf and AOF"


def test_the_init_forms_three_masters_with_a_replica_each_from_exactly_the_nodes() -> None:
    init = SERVICES["cluster-redis-init"]
    assert init["restart"] == "no"
    assert deps("cluster-redis-init") == dict.fromkeys(NODES, "service_healthy")
    script = with_defaults(init["command"][0])
    listed = re.search(r'nodes="([^"]+)"', script)
    assert listed, script
    assert listed[1].split() == [f"{n}:6379" for n in NODES]
    create = script[script.index("redis-cli --cluster create") :]
    assert "--cluster-replicas 1" in create
    assert "--cluster-yes" in create
    # Run again (a restart of the stack), it leaves a formed cluster alone.
    assert script.index("cluster_state:ok") < script.index("--cluster create")


def test_the_services_use_the_cluster_and_the_replica() -> None:
    nodes = ",".join(f"{n}:6379" for n in NODES)
    for name in APP:
        values = env(name)
        assert values["REDIS_CLUSTER_NODES"] == nodes, name
        assert values["ACTIVITY_STREAM_SHARDS"] == "4", name
        assert values["REDIS_WAIT_REPLICAS"] == "1", name
        primary, replica = urlsplit(values["DATABASE_URL"]), urlsplit(values["DATABASE_READ_URL"])
        assert primary.hostname == "cluster-postgres", name
        assert replica.hostname == "cluster-postgres-replica", name
        assert (primary.username, primary.password, primary.path) == (
            replica.username,
            replica.password,
            replica.path,
        )
        assert urlsplit(values["REDIS_URL"]).hostname in NODES
    for name in ("cluster-api", "cluster-ingest", "cluster-retry"):
        assert deps(name) == {
            "cluster-migrate": "service_completed_successfully",
            "cluster-postgres": "service_healthy",
            # Reads fall back to the primary until the replica answers.
            "cluster-postgres-replica": "service_started",
            "cluster-redis-init": "service_completed_successfully",
        }
    assert deps("cluster-migrate") == {"cluster-postgres": "service_healthy"}
    # Beside the plain stack's API, on another host port.
    assert with_defaults(SERVICES["cluster-api"]["ports"]) != with_defaults(
        SERVICES["api"]["ports"]
    )


def test_the_primary_allows_replication_and_the_replica_seeds_itself_from_it() -> None:
    primary = SERVICES["cluster-postgres"]
    command = primary["command"]
    settings = dict(command[i + 1].split("=", 1) for i, c in enumerate(command) if c == "-c")
    assert settings["wal_level"] == "replica"
    assert int(settings["max_wal_senders"]) >= 1
    mounts = [m for m in primary["volumes"] if "docker-entrypoint-initdb.d" in m]
    assert len(mounts) == 1
    script = REPO / mounts[0].split(":")[0]
    assert re.search(r"^echo \"host replication all all scram-sha-256\"", script.read_text(), re.M)

    replica = SERVICES["cluster-postgres-replica"]
    assert with_defaults(replica["image"]) == with_defaults(primary["image"])
    assert deps("cluster-postgres-replica") == {"cluster-postgres": "service_healthy"}
    seed = with_defaults(replica["command"][0])
    basebackup = seed[seed.index("pg_basebackup") : seed.index("&& chmod")]
    assert "-h cluster-postgres " in basebackup
    assert " -R " in basebackup
    assert "-X stream" in basebackup
    # Seeded only into an empty volume; then the server itself, as the process.
    assert seed.index('[ ! -s "$PGDATA/PG_VERSION" ]') < seed.index("pg_basebackup")
    assert seed.rstrip().endswith("exec postgres -c hot_standby=on -c hot_standby_feedback=on")
    assert "pg_is_in_recovery()" in replica["healthcheck"]["test"][-1]
    assert (
        env("cluster-postgres-replica")["PGPASSWORD"]
        == env("cluster-postgres")["POSTGRES_PASSWORD"]
    )


def test_the_one_command_in_the_docs_starts_the_profile() -> None:
    command = "docker compose --profile cluster up -d cluster-api cluster-ingest cluster-retry"
    assert command in (REPO / "docs" / "SCALING.md").read_text()
    assert command in (REPO / "compose.yaml").read_text()
    for name in command.split()[6:]:
        assert name in APP
