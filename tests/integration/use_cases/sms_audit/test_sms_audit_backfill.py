"""`activitylog backfill sms-audit` as an operator runs it: an export, then the portal's
table, against a real database; exact counts, a second run adding nothing."""

from __future__ import annotations

import asyncio
import csv
import json

from activitylog.storage import event_counts
from activitylog_testing.sms_audit import (
    EXPECTED,
    EXPECTED_DUPLICATES,
    EXPECTED_SKIPPED,
    PORTAL_ONLY,
    ROWS,
    airtable_csv,
    fill_portal,
)
from cli_invoke import invoke
from support import run_cli


async def backfill(settings, *args: str):
    return await asyncio.to_thread(run_cli, settings, "backfill", *args)


async def counts(pool) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT event_type, count(*) AS n FROM lead_activity_log GROUP BY 1 ORDER BY 1"
    )
    return {r["event_type"]: r["n"] for r in rows}


async def test_export_then_portal_then_again(pool, settings, tmp_path, portal_db) -> None:
    export = tmp_path / "SMS_Audit-Grid view.csv"
    export.write_bytes(airtable_csv())
    report = tmp_path / "skipped.csv"

    dry = await invoke(settings, "backfill", "sms-audit", str(export), "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    summary = json.loads(dry.stdout)
    assert summary["written"] == EXPECTED
    assert summary["dryRun"] is True
    assert await counts(pool) == {}  # a dry run writes nothing, not even its record
    assert await pool.fetchval("SELECT count(*) FROM backfill_runs") == 0

    first = await backfill(settings, "sms-audit", str(export), "--report", str(report))
    assert first.returncode == 0, first.stderr
    assert await counts(pool) == EXPECTED
    out = first.stdout
    assert "rows read                  12" in out
    assert "events written             11" in out
    assert "  MESSAGE_DELIVERED            3" in out
    assert f"duplicates       {EXPECTED_DUPLICATES:>12}" in out
    assert "  no lead                      2" in out
    assert "time span        2025-11-07T15:04:00Z … 2025-11-09T16:15:00Z" in out
    with report.open(newline="", encoding="utf-8") as f:
        skipped = list(csv.DictReader(f))
    assert sum(EXPECTED_SKIPPED.values()) == len(skipped)
    assert {(r["where"], r["fact"], r["reason"]) for r in skipped} >= {
        ("line 14", "row", "no lead"),
        ("line 16", "row", "unknown status"),
        ("line 18", "delivery", "no time"),
    }
    # The batch store's rules hold: stub leads, last activity at the latest event.
    last = await pool.fetchval(
        "SELECT last_activity_at FROM leads WHERE airtable_record_id = 'recLead0001'"
    )
    assert last.isoformat() == "2025-11-07T15:30:00+00:00"
    assert await pool.fetchval("SELECT count(*) FROM leads") == 6
    # The counters count what was stored (the dashboard reads them).
    async with pool.acquire() as conn:
        totals = await event_counts.totals_by_category(conn)
    assert totals["SMS"] == sum(EXPECTED.values())

    # The same messages through the portal's table add nothing; its extra row adds one.
    await fill_portal(portal_db, [*ROWS, PORTAL_ONLY])
    portal = await invoke(settings, "backfill", "sms-audit", "--from-postgres", portal_db, "--json")
    assert portal.exit_code == 0, portal.output
    from_portal = json.loads(portal.stdout)
    assert from_portal["written"] == {**dict.fromkeys(EXPECTED, 0), "MESSAGE_SENT": 1}
    assert from_portal["rowsRead"] == len(ROWS) + 1
    assert await counts(pool) == {**EXPECTED, "MESSAGE_SENT": EXPECTED["MESSAGE_SENT"] + 1}

    again = await invoke(settings, "backfill", "sms-audit", str(export), "--json")
    assert json.loads(again.stdout)["written"] == dict.fromkeys(EXPECTED, 0)
    assert json.loads(again.stdout)["duplicates"] == 12
    assert await counts(pool) == {**EXPECTED, "MESSAGE_SENT": EXPECTED["MESSAGE_SENT"] + 1}

    status = await invoke(settings, "backfill", "status")
    assert status.exit_code == 0, status.output
    lines = status.stdout.splitlines()
    # The header, then each run, newest first, with what it wrote when it wrote anything.
    assert len(lines) == 6
    assert " finished " in lines[1]
    assert "postgres://" in lines[2]
    assert "@" not in lines[2]  # never a password
    assert lines[3].strip() == "MESSAGE_SENT 1"
    assert lines[5].strip() == (
        "MESSAGE_SENT 5, MESSAGE_DELIVERED 3, MESSAGE_FAILED 2, LINK_CLICKED 1"
    )
    runs = [
        json.loads(line)
        for line in (await invoke(settings, "backfill", "status", "--json")).stdout.splitlines()
    ]
    assert [r["written"] for r in runs] == [0, 1, 11]


async def test_bad_input_is_a_clear_error(settings, tmp_path) -> None:
    wrong = tmp_path / "Retry_Queue.csv"
    wrong.write_text("Queue ID,Payload\n1,{}\n", encoding="utf-8")
    refused = await invoke(settings, "backfill", "sms-audit", str(wrong))
    assert refused.exit_code == 1
    assert "missing column(s) campaign_id, phone, status, lead" in refused.stderr
    both = await invoke(settings, "backfill", "sms-audit", str(wrong), "--from-postgres", "x")
    assert both.exit_code == 2
    assert "one of them" in both.stderr
    zone = await invoke(settings, "backfill", "sms-audit", str(wrong), "--tz", "Mars/Olympus")
    assert zone.exit_code == 2
    assert "'--tz'" in zone.stderr


async def test_a_lead_uuid_not_there_yet_waits_in_the_retry_queue(pool, settings, tmp_path) -> None:
    lead = "6f1c3c52-9d0e-4f7e-8a59-2b7f0c6b1e11"
    row = ("", "SMS Sent", "st-2001", "+15550002001", "Delivered", "Verizon", lead, "Hi",
           "11/7/2025 3:04pm", "11/7/2025 3:05pm", "", "", "")  # fmt: skip
    export = tmp_path / "SMS_Audit.csv"
    export.write_bytes(airtable_csv([row]))
    for _ in range(2):  # a re-run files the same rows again, not new ones
        ran = await invoke(settings, "backfill", "sms-audit", str(export), "--json")
        assert ran.exit_code == 0, ran.output
        assert json.loads(ran.stdout)["refused"] == 2
    letters = await pool.fetch("SELECT queue_id, status, payload FROM retry_queue ORDER BY 1")
    assert [r["status"] for r in letters] == ["pending", "pending"]
    assert all(r["queue_id"].startswith("sms-audit:") for r in letters)
    assert all(f'"eventId":"{r["queue_id"].removeprefix("sms-audit:")}"' in r["payload"]
               for r in letters)  # fmt: skip
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 0
