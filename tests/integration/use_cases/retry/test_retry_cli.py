"""`activitylog retry-queue …` as an operator runs it: the click command, its output and
exit status, run in this process (tests/system/cli runs the commands as real processes)."""

from __future__ import annotations

import csv
import json
import subprocess

import orjson

from activitylog.domain.dead_letters import RetryStatus
from cli_invoke import run
from support import event


async def cli(settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await run(settings, "retry-queue", *args)


async def test_import_list_show_discard(pool, add_row, retry_settings, tmp_path) -> None:
    export = tmp_path / "Retry_Queue-Grid view.csv"
    with export.open("w", newline="", encoding="utf-8-sig") as f:
        writer = csv.writer(f)
        writer.writerow(["Queue ID", "Operation Type", "Lead ID", "Payload", "Retry Count",
                         "Next Retry At", "Created At"])  # fmt: skip
        writer.writerow(["9001-0", "activity_log", "recLead00001",
                         orjson.dumps(event(1)).decode(), "1", "", "3/5/2025 9:00am"])  # fmt: skip
        writer.writerow(["9001-1", "activity_log", "", "{oops", "0", "", ""])
        writer.writerow(["", "activity_log", "", "{}", "0", "", ""])

    imported = await cli(retry_settings, "import", str(export))
    assert imported.returncode == 1, imported.stderr  # a skipped row is reported, not hidden
    assert "read 3 row(s): 2 imported, 0 already present, 1 skipped" in imported.stdout
    assert "line 4 skipped: queue_id is empty" in imported.stderr
    assert "replayed 2 row(s): 1 dead, 1 resolved" in imported.stdout
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 1

    pending = await add_row(event(2), lead_id="recLead00002")
    table = await cli(retry_settings, "list")
    assert table.returncode == 0
    assert "pending: 1  resolved: 1  dead: 1  discarded: 0" in table.stdout
    lines = (await cli(retry_settings, "list", "--status", "dead", "--json")).stdout.splitlines()
    (dead,) = [json.loads(line) for line in lines]
    assert dead["queueId"] == "9001-1"
    assert "not valid JSON" in dead["lastError"]

    replayed = await cli(retry_settings, "replay", "--all-dead")
    assert replayed.returncode == 1
    assert f"row {dead['id']} (9001-1): FAILED, status dead, 2 attempt(s)" in replayed.stderr
    assert "0 resolved, 1 failed" in replayed.stdout

    shown = await cli(retry_settings, "show", "9001-0")
    assert "status: resolved" in shown.stdout
    assert '"eventType": "MESSAGE_SENT"' in shown.stdout

    discarded = await cli(retry_settings, "discard", str(pending.id), "--reason", "test data")
    assert discarded.returncode == 0
    assert f"row {pending.id} ({pending.queue_id}): discarded" in discarded.stdout
    refused = await cli(retry_settings, "discard", "9001-0")
    assert refused.returncode == 1
    assert "is resolved" in refused.stderr
    status = await pool.fetchval("SELECT status FROM retry_queue WHERE id = $1", pending.id)
    assert status == RetryStatus.DISCARDED.value

    again = await cli(retry_settings, "import", str(export))
    assert "2 already present" in again.stdout
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 1
