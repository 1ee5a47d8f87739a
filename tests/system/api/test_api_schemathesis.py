"""Schemathesis over the live API: every check, against the document the API serves."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import orjson
import pytest

from activitylog.domain.dead_letters import DeadLetter, RetryStatus
from activitylog.storage import retry_queue
from activitylog_testing.leads import add_lead
from api_support import event_row, insert_rows, times
from support import event

HERE = Path(__file__).parent
# Examples per operation: enough to reach every documented status, bounded for CI's 2 cores.
MAX_EXAMPLES = 25
LEAD = "recSchemathesis1"


async def _seed(pool) -> int:
    """A lead with a timeline and a retry_queue row, so their routes answer more than 404."""
    lead = await add_lead(pool, LEAD, first_name="Sam", email="sam@example.com")
    await insert_rows(
        pool, [event_row(lead, airtable_id=LEAD, timestamp=t) for t in times(30, step_s=3600)]
    )
    payload = orjson.dumps(event(1, leadAirtableId=LEAD)).decode()
    async with pool.acquire() as conn:
        await retry_queue.add(
            conn, [DeadLetter("st-1", LEAD, payload, "lead not synced yet", RetryStatus.PENDING)]
        )
        return await conn.fetchval("SELECT id FROM retry_queue WHERE queue_id = 'st-1'")


@pytest.mark.timeout(300)
async def test_schemathesis_finds_no_failures(api, pool, admin_key, tmp_path: Path) -> None:
    row_id = await _seed(pool)
    config = tmp_path / "schemathesis.toml"
    # TOML's basic strings are JSON strings.
    config.write_text(
        f'[parameters]\n"path.row_id" = {json.dumps(str(row_id))}\n"path.id" = {json.dumps(LEAD)}\n'
        # A live stream (server-sent events) never ends by itself: its first event (`ready`)
        # is checked, then the request is done.
        '[[operations]]\ninclude-path-regex = "/stream$"\nmax-stream-events = 1\n'
    )
    cli = Path(sys.executable).with_name("schemathesis")
    process = await asyncio.create_subprocess_exec(
        str(cli),
        "--config-file",
        str(config),
        "run",
        f"{api.url}/schema/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        # NUL is refused anywhere (README, "no NUL characters"), which a schema cannot say
        # of metadata's nested keys and values.
        "--generation-allow-x00",
        "false",
        "--header",
        f"x-api-key: {admin_key}",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
        "--output-sanitize",
        "true",
        cwd=tmp_path,
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
            # The hooks ask the API for real cursors (a cursor is opaque to the document).
            "SCHEMATHESIS_API_URL": api.url,
            "SCHEMATHESIS_API_KEY": admin_key,
            "SCHEMATHESIS_CURSOR_LOG": str(tmp_path / "cursors.log"),
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    report = output.decode(errors="replace")
    print(report)
    assert process.returncode == 0, report
    # Positive cases paged with the API's own cursors, on the browser and the timeline.
    paged = set((tmp_path / "cursors.log").read_text().split())
    assert {"/api/admin/activity-logs", "/api/leads/{id}/activity"} <= paged, paged
