"""The portal's TypeScript client (clients/typescript) against the real API, with node's runner.

The package is copied to a temporary folder, so `npm ci` (from npm's cache outside the
repository) and the build leave nothing in the checkout. Needs Node ≥ 20 and npm.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import uuid
from pathlib import Path

import asyncpg
import pytest

from activitylog.runtime.settings import Settings
from activitylog_ingest.service import run_ingest
from activitylog_testing.ports import free_port
from activitylog_testing.serving import running, serving_api
from support import REPO, run_cli

PACKAGE = REPO / "clients" / "typescript"
# What the package is built from; node_modules and dist stay behind.
SOURCES = ("package.json", "package-lock.json", "tsconfig.json", "src", "test")
SCHEMA = Path("src") / "schema.ts"
# Set to rewrite the committed types from the API instead of failing on a difference.
UPDATE_ENV = "UPDATE_CLIENT_TYPES"


async def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command without blocking the loop the API serves on; fail with its output."""
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        env={**os.environ, "npm_config_update_notifier": "false", **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"{' '.join(args)} exited {process.returncode}:\n{text}"
    return text


@pytest.fixture
def package(tmp_path: Path) -> Path:
    if shutil.which("npm") is None:
        pytest.fail("the TypeScript client's tests need Node.js 20 or later with npm")
    copy = tmp_path / "typescript"
    copy.mkdir()
    for name in SOURCES:
        source = PACKAGE / name
        if source.is_dir():
            shutil.copytree(source, copy / name)
        else:
            shutil.copy2(source, copy / name)
    return copy


async def test_client_logs_and_reads_through_the_running_api(
    settings: Settings, pool: asyncpg.Pool, package: Path
) -> None:
    settings = settings.model_copy(update={"api_port": free_port()})
    created = run_cli(settings, "keys", "create", "--role", "admin", "--name", "ts-client")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    lead = f"recTs{uuid.uuid4().hex[:12]}"
    # ActivityLogger's tests (test/delivery.test.ts) log to a lead of their own.
    delivery_lead = f"recTd{uuid.uuid4().hex[:12]}"
    # The live tests (test/live.test.ts: Prefer: wait, the event streams) log to their own.
    live_lead = f"recTl{uuid.uuid4().hex[:12]}"
    await _run("npm", "ci", "--no-audit", "--no-fund", "--prefer-offline", cwd=package)

    async with serving_api(settings) as api, running(functools.partial(run_ingest, settings)):
        # The types as openapi-typescript makes them of the served document: the client is
        # built and tested against the API as it is, and the committed copy compared below.
        await _run(
            "npx",
            "openapi-typescript",
            f"{api.url}/schema/openapi.json",
            "-o",
            str(SCHEMA),
            cwd=package,
        )
        output = await _run(
            "npm",
            "test",
            cwd=package,
            env={
                "API_URL": api.url,
                "API_KEY": key,
                "LEAD_AIRTABLE_ID": lead,
                "DELIVERY_LEAD_AIRTABLE_ID": delivery_lead,
                "LIVE_LEAD_AIRTABLE_ID": live_lead,
            },
        )

    assert "# fail 0" in output, output
    assert "# pass 17" in output, output  # client 4, delivery 9, live 4
    async with pool.acquire() as conn:
        stored = await conn.fetch(
            "SELECT description FROM lead_activity_log WHERE lead_airtable_id = $1 "
            'ORDER BY "timestamp"',
            lead,
        )
    assert [r["description"] for r in stored] == ["SMS 1", "SMS 2", "Delivered", "Booked"]
    # What the never-throwing logger delivered through outages, timeouts, 503/429 and 500,
    # each exactly once; nothing of what it gave up (a 400, a 401, dropped, closed).
    async with pool.acquire() as conn:
        delivered = await conn.fetch(
            "SELECT description FROM lead_activity_log WHERE lead_airtable_id = $1",
            delivery_lead,
        )
    assert sorted(r["description"] for r in delivered) == sorted(
        [
            "Back after an outage 1",
            "Back after an outage 2",
            "Slow answer",
            "After a 503",
            "After a 429 and a 500",
            "Queued 2",
            "Queued 3",
        ]
    )

    fresh = (package / SCHEMA).read_text()
    if os.environ.get(UPDATE_ENV):
        (PACKAGE / SCHEMA).write_text(fresh)
    assert fresh == (PACKAGE / SCHEMA).read_text(), (
        f"clients/typescript/{SCHEMA} is stale: run `{UPDATE_ENV}=1 pytest tests/system/clients` "
        "(or `npm run generate` against a running API) and commit it"
    )
