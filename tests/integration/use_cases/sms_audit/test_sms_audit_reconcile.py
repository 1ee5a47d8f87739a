"""Reconcile: the old table against the log per day; a planted gap is found, a clean
period passes, and the exit status follows --tolerance."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from activitylog.contract.events import parse_event
from activitylog.contract.identity import AcceptedEvent
from activitylog.domain.sms_audit.reconcile import Period, Sighting, compare
from activitylog.use_cases.store_batch import store_batch
from activitylog_testing.sms_audit import airtable_csv, fill_portal, log_payload, sends_on
from cli_invoke import invoke

SEPT_16 = datetime(2025, 9, 16, tzinfo=UTC)
SEPT_17 = datetime(2025, 9, 17, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


def sent(at: datetime, message_id: str, phone: str = "+15550000001") -> Sighting:
    return Sighting("MESSAGE_SENT", at, message_id, phone, "recLead0001")


def test_matching_across_midnight_and_the_slack() -> None:
    period = Period(date(2025, 9, 16), date(2025, 9, 16), UTC)
    airtable = [
        sent(SEPT_16 + timedelta(hours=23, minutes=59), "c1"),  # logged a minute later
        sent(SEPT_16 + timedelta(hours=10), "c2", "(555) 000-0001"),  # same phone, other form
        sent(SEPT_16 + timedelta(hours=11), "c3"),  # never logged
        sent(SEPT_16 - timedelta(minutes=30), "c4"),  # before the period: matches only
    ]
    log = [
        sent(SEPT_17 + timedelta(minutes=1), "c1"),
        sent(SEPT_16 + timedelta(hours=10, seconds=3), "c2"),
        sent(SEPT_16 + timedelta(hours=12), "c5"),  # only in the log
        sent(SEPT_16 - timedelta(minutes=31), "c6"),  # outside the period: not reported
    ]
    report = compare(airtable, log, period)
    (row,) = report.rows
    assert (row.day, row.airtable, row.log) == (date(2025, 9, 16), 3, 2)
    assert (row.missing_in_log, row.missing_in_airtable) == (1, 1)
    assert [s.message_id for s in report.missing_in_log] == ["c3"]
    assert [s.message_id for s in report.missing_in_airtable] == ["c5"]
    assert report.unmatched == 2
    assert not report.within(1)
    assert report.within(2)
    assert report.within(100 * 2 / 3, percent=True)
    assert not report.within(50, percent=True)


def test_days_are_counted_in_the_given_zone() -> None:
    late = SEPT_17 + timedelta(hours=2)  # 22:00 on the 16th in New York
    report = compare([sent(late, "c1")], [sent(late, "c1")], Period(
        date(2025, 9, 16), date(2025, 9, 16), NEW_YORK
    ))  # fmt: skip
    assert [(r.day, r.airtable, r.log, r.gap) for r in report.rows] == [
        (date(2025, 9, 16), 1, 1, False)
    ]


async def test_a_planted_gap_is_found_and_a_clean_period_passes(
    pool, settings, tmp_path, portal_db
) -> None:
    # The 17 September incident in small: sends on the 16th are logged, the 17th's are not.
    on_16, on_17 = sends_on(SEPT_16, 4, "a"), sends_on(SEPT_17, 6, "b")
    export = tmp_path / "SMS_Audit.csv"
    export.write_bytes(airtable_csv([*on_16, *on_17]))
    async with pool.acquire() as conn:
        await store_batch(conn, [
            AcceptedEvent.accept(parse_event(log_payload(r)), received_at=SEPT_16, origin="t",
                                 raw="")
            for r in on_16
        ])  # fmt: skip

    args = ("reconcile", "sms-audit", str(export), "--from", "2025-09-16", "--to", "2025-09-17")
    found = await invoke(settings, *args)
    assert found.exit_code == 1, found.output
    table = found.stdout
    assert "2025-09-16  MESSAGE_SENT              4         4        0        0\n" in table
    assert "2025-09-17  MESSAGE_SENT              6         0        6        0  <- gap" in table
    assert "total                                10         4        6        0" in table
    assert "6 missing from the log:" in table
    assert "b-0                      +15550170000     recLeadb000" in table
    assert "6 unmatched event(s): ABOVE the tolerance of 0" in table

    tolerated = await invoke(settings, *args, "--tolerance", "6", "--json")
    assert tolerated.exit_code == 0, tolerated.output
    report = json.loads(tolerated.stdout)
    assert report["totals"]["missingInLog"] == 6
    assert {m["messageId"] for m in report["missingInLog"]} == {f"b-{i}" for i in range(6)}
    assert report["withinTolerance"] is True
    assert (await invoke(settings, *args, "--tolerance", "59%")).exit_code == 1
    assert (await invoke(settings, *args, "--tolerance", "60%")).exit_code == 0

    as_csv = await invoke(settings, *args, "--csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["section"] for r in rows] == ["day", "day", "total", *["missing_in_log"] * 6]
    assert rows[1]["missing_in_log"] == "6"

    # Clean: the 16th alone, and the same table read from the portal's database.
    await fill_portal(portal_db, [*on_16, *on_17])
    clean = await invoke(settings, "reconcile", "sms-audit", "--from-postgres", portal_db,
                         "--from", "2025-09-16", "--to", "2025-09-16")  # fmt: skip
    assert clean.exit_code == 0, clean.output
    assert "0 unmatched event(s): within the tolerance of 0" in clean.stdout

    # Clean after a backfill of the fixture: its "Delivery Update" row repeating a delivery
    # is one fact on both sides, and its unreadable rows are counted, not compared.
    nov = tmp_path / "SMS_Audit-nov.csv"
    nov.write_bytes(airtable_csv())
    assert (await invoke(settings, "backfill", "sms-audit", str(nov))).exit_code == 0
    after = await invoke(settings, "reconcile", "sms-audit", str(nov), "--from", "2025-11-07",
                         "--to", "2025-11-09", "--tz", "America/New_York", "--json")  # fmt: skip
    assert after.exit_code == 0, after.output
    assert json.loads(after.stdout)["totals"] | {"day": None} == {
        "day": None, "eventType": "total", "airtable": 11, "log": 11,
        "missingInLog": 0, "missingInAirtable": 0,
    }  # fmt: skip
    assert json.loads(after.stdout)["unreadable"] == 5

    bad = await invoke(settings, *args[:3], "--from", "2025-09-17", "--to", "2025-09-16")
    assert bad.exit_code == 2
    assert "--to is before --from" in bad.stderr
    wrong = await invoke(settings, *args, "--tolerance", "lots")
    assert wrong.exit_code == 2
    assert "'--tolerance'" in wrong.stderr
