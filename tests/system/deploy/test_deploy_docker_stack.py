"""With a Docker engine: build the image, bring the whole stack up, send events, scale, stop.

Skipped (the only skip in the suite) when `docker info` fails, with docker's own reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from deploy_support import COMPOSE, REPO

from activitylog_testing.polling import wait_for
from activitylog_testing.ports import free_port


def docker_unavailable() -> str | None:
    """Why there is no usable Docker engine here, or None when there is one."""
    if shutil.which("docker") is None:
        return "no `docker` command on this machine"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 60 s"
    if info.returncode != 0:
        lines = (info.stderr or info.stdout).strip().splitlines()
        return f"`docker info` failed: {lines[-1] if lines else info.returncode}"
    return None


class Stack:
    """`docker compose` on compose.yaml under a throw-away project name."""

    def __init__(self) -> None:
        self.project = f"activitylog-test-{uuid.uuid4().hex[:8]}"
        self.api_port = free_port()
        self.env = os.environ | {"API_PUBLISH_PORT": str(self.api_port), "INGEST_REPLICAS": "2"}

    def run(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        result = subprocess.run(
            ["docker", "compose", "-f", str(COMPOSE), "-p", self.project, *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check:
            assert result.returncode == 0, (
                f"docker compose {' '.join(args)}: exit {result.returncode}\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def containers(self, *args: str) -> list[dict[str, Any]]:
        out = self.run("ps", "--format", "json", *args).strip()
        if out.startswith("["):  # older compose prints one array
            return json.loads(out)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def sql(self, query: str) -> str:
        return self.run(
            *("exec", "-T", "postgres", "psql", "-U", "activitylog", "-d", "activitylog"),
            *("-tAc", query),
        ).strip()

    async def wait_rows(self, n: int, timeout: float = 120) -> None:
        async def stored() -> bool:
            count = await asyncio.to_thread(self.sql, "SELECT count(*) FROM lead_activity_log")
            return count == str(n)

        await wait_for(stored, timeout=timeout, interval=1, message=f"{n} rows in PostgreSQL")


@pytest.fixture
def stack() -> Iterator[Stack]:
    reason = docker_unavailable()
    if reason:
        pytest.skip(reason)
    stack = Stack()
    try:
        yield stack
    finally:
        stack.run("down", "--volumes", "--remove-orphans", timeout=300, check=False)


@pytest.mark.timeout(2400)
async def test_the_stack_builds_starts_stores_scales_and_stops(stack: Stack) -> None:
    stack.run("config", "--quiet")  # the real compose parser accepts the file
    stack.run("build", timeout=1800)
    stack.run("up", "--detach", "--wait", "--wait-timeout", "300", timeout=600)

    running = stack.containers()
    by_service: dict[str, list[dict[str, Any]]] = {}
    for container in running:
        by_service.setdefault(container["Service"], []).append(container)
    assert len(by_service["ingest"]) == 2
    for service in ("postgres", "redis", "api", "ingest", "retry"):
        for container in by_service[service]:
            assert container["Health"] == "healthy", container
    migrate = [c for c in stack.containers("--all") if c["Service"] == "migrate"]
    assert migrate, "the migrate container ran"
    assert all(c["ExitCode"] == 0 for c in migrate), migrate
    assert stack.run("exec", "-T", "api", "id", "-u").strip() == "10001"

    # Raw XADD, as any producer may do it.
    body = {
        "eventType": "NOTE_ADDED",
        "leadAirtableId": "recDocker1",
        "description": "from redis-cli",
        "source": "system:test",
    }
    stack.run(
        *("exec", "-T", "redis", "redis-cli", "XADD", "activity:events", "*"),
        *("payload", json.dumps(body)),
    )
    await stack.wait_rows(1)

    # Over HTTP with an ingest key created by the CLI in a container.
    base = f"http://127.0.0.1:{stack.api_port}"
    assert httpx.get(f"{base}/health/ready", timeout=10).status_code == 200
    key = (
        stack.run(
            *("exec", "-T", "retry", "activitylog", "keys", "create"),
            *("--role", "ingest", "--name", "docker-test"),
        )
        .strip()
        .splitlines()[-1]
    )
    response = httpx.post(
        f"{base}/api/internal/log-activity",
        headers={"x-api-key": key},
        json=body | {"description": "over HTTP"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    await stack.wait_rows(2)
    assert httpx.get(f"{base}/metrics", timeout=10).status_code == 200

    stack.run("up", "--detach", "--wait", "--scale", "ingest=3", timeout=600)
    assert len([c for c in stack.containers() if c["Service"] == "ingest"]) == 3

    started = time.monotonic()
    stack.run("stop", timeout=300)
    assert time.monotonic() - started < 60, "every service drains well within its grace period"
    for container in stack.containers("--all"):
        if container["Service"] in ("api", "ingest", "retry", "migrate"):
            assert container["ExitCode"] == 0, f"{container['Name']} did not stop cleanly"
