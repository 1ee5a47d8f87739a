"""`activitylog watch`: rules added, listed and removed; bad input names the option; rules
suggested from a month of seeded history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from click.testing import CliRunner

from activitylog.contract.events import parse_event
from activitylog.contract.identity import AcceptedEvent
from activitylog.runtime.settings import Settings
from activitylog.use_cases.store_batch import store_batch
from activitylog_cli.watch import watch
from support import event, run_cli

NY = ZoneInfo("America/New_York")


def office_history(source: str, days: int, every: timedelta) -> list[AcceptedEvent]:
    """`source` sending every `every` from 08:00 to 20:00 New York time, for `days` days."""
    now = datetime.now(UTC)
    start = (now - timedelta(days=days)).astimezone(NY).replace(hour=8, minute=0, second=0)
    events = []
    for day in range(days + 1):
        t = (start + timedelta(days=day)).replace(hour=8, tzinfo=NY)
        while t.hour < 20 and t < now:
            n = len(events)
            body = event(n, source=source, timestamp=t.astimezone(UTC).isoformat())
            events.append(
                AcceptedEvent.accept(parse_event(body), received_at=now, origin=f"s-{n}", raw="")
            )
            t += every
    return events


async def test_add_list_and_remove(settings: Settings, pool) -> None:
    added = run_cli(
        settings,
        "watch",
        "add",
        "n8n:wf-sms",
        "--every",
        "30m",
        "--between",
        "08:00-20:00",
        "--tz",
        "America/New_York",
    )
    assert added.returncode == 0, added.stderr
    assert "n8n:wf-sms\tevery 30m\tbetween 08:00-20:00 America/New_York" in added.stdout
    assert run_cli(settings, "watch", "add", "n8n:*", "--every", "2h").returncode == 0
    listed = run_cli(settings, "watch", "list").stdout
    assert listed.index("n8n:*\tevery 2h\talways") < listed.index("n8n:wf-sms")

    assert run_cli(settings, "watch", "remove", "n8n:*").returncode == 0
    missing = run_cli(settings, "watch", "remove", "n8n:*")
    assert "no watch rule 'n8n:*'" in missing.stderr
    assert await pool.fetchval("SELECT array_agg(pattern) FROM watch_rules") == ["n8n:wf-sms"]


def test_bad_input_is_a_usage_error_naming_the_option() -> None:
    runner = CliRunner()
    bad = runner.invoke(watch, ["add", "n8n:x", "--every", "soon"])
    assert bad.exit_code == 2
    assert "Invalid value for --every: 'soon' is not a duration" in bad.output
    for args, option in [
        (["--every", "10s"], "--every"),
        (["--every", "1h", "--between", "8-20"], "--between"),
        (["--every", "1h", "--between", "08:00-20:00", "--tz", "Mars/Base"], "--tz"),
        (["--every", "1h", "--between", "08:00-08:00"], "--between"),
    ]:
        result = runner.invoke(watch, ["add", "n8n:x", *args])
        assert result.exit_code == 2, args
        assert f"Invalid value for {option}" in result.output, result.output
    assert "Invalid value for source" in runner.invoke(watch, ["add", " ", "--every", "1h"]).output


async def test_suggest_proposes_the_office_window_and_a_margin_over_the_gaps(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    history = office_history("n8n:wf-sms", 30, timedelta(minutes=20))
    recent = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    sparse = [
        AcceptedEvent.accept(
            parse_event(event(9000 + n, source="n8n:wf-rare", timestamp=recent)),
            received_at=datetime.now(UTC),
            origin=f"r-{n}",
            raw="",
        )
        for n in range(3)
    ]
    async with pool.acquire() as conn:
        for start in range(0, len(history), 500):
            await store_batch(conn, history[start : start + 500])
        await store_batch(conn, sparse)
    result = run_cli(
        settings,
        "watch",
        "suggest",
        "--tz",
        "America/New_York",
        "--source",
        "n8n:%",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        "activitylog watch add 'n8n:wf-sms' --every 30m --between 08:00-20:00 --tz America/New_York"
    ) in lines
    assert any(line.startswith("# n8n:wf-sms: ") and "p99 20m" in line for line in lines)
    assert any(line.startswith("# n8n:wf-rare: too little history") for line in lines)
    # Nothing is switched on by itself.
    assert await pool.fetchval("SELECT count(*) FROM watch_rules") == 0
    accepted = run_cli(settings, "watch", "suggest", "--tz", "America/New_York", "--accept")
    assert "added 1 rule(s)" in accepted.stdout
    assert await pool.fetchval("SELECT max_silence_s FROM watch_rules") == 1800
