"""`activitylog reconcile sms-audit`: the old SMS_Audit table against the log, day by day."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from activitylog.domain.sms_audit.reconcile import Period, Report
from activitylog.domain.sms_audit.rows import SourceFormatError
from activitylog.runtime.db import connect
from activitylog.use_cases.backfill.reconcile_run import reconcile as run_reconcile
from activitylog_cli.backfill import ProgressBar, open_chunks, source_option_check, zone
from activitylog_cli.support import database_url

_LISTED = 50  # unmatched messages the terminal shows per side (--json and --csv list all)


def tolerance_value(_ctx: click.Context, param: click.Parameter, value: str) -> tuple[float, bool]:
    """`5` (events) or `0.5%` (of the old table's events in the period)."""
    text = value.strip()
    percent = text.endswith("%")
    try:
        number = float(text.removesuffix("%"))
    except ValueError:
        number = -1.0
    if not number >= 0:
        raise click.BadParameter(
            f"{value!r} is not a count like 5 or a percentage like 0.5%", param=param
        )
    return number, percent


def _print_table(report: Report, skipped: int) -> None:
    p = report.period
    click.echo(f"SMS_Audit vs the log, {p.first} … {p.last} ({p.tz.key})")
    for line in report.table():
        click.echo(line)
    for title, items in (
        ("missing from the log", report.missing_in_log),
        ("in the log but not in SMS_Audit", report.missing_in_airtable),
    ):
        if not items:
            continue
        click.echo(f"\n{len(items):,} {title}:")
        click.echo(f"  {'time':<20}  {'event type':<17} {'message id':<24} {'phone':<16} lead")
        for s in items[:_LISTED]:
            at = s.at.astimezone(p.tz).strftime("%Y-%m-%d %H:%M:%S")
            click.echo(f"  {at:<20}  {s.event_type:<17} {s.message_id:<24} {s.phone:<16} {s.lead}")
        if len(items) > _LISTED:
            click.echo(f"  … and {len(items) - _LISTED:,} more (--json or --csv lists them all)")
    if skipped:
        click.echo(
            f"\n{skipped:,} fact(s) of SMS_Audit could not be read "
            "(`backfill sms-audit --dry-run --report FILE.csv` lists them)"
        )


@click.group()
def reconcile() -> None:
    """Compare an old Airtable table with the log (for the dual-write period)."""


@reconcile.command("sms-audit")
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--from-postgres", "dsn", metavar="DSN", help="Read the portal's sms_audit table.")
@click.option(
    "--from", "first", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day."
)
@click.option(
    "--to", "last", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day, included."
)
@click.option(
    "--tz",
    default="UTC",
    show_default=True,
    callback=zone,
    help="Zone of the days, and of export times written without an offset.",
)
@click.option(
    "--tolerance",
    default="0",
    show_default=True,
    callback=tolerance_value,
    help="Unmatched events allowed (a count, or a percentage like 0.5%) before exiting 1.",
)
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="The report as CSV.")
def sms_audit(
    file: Path | None,
    dsn: str | None,
    first: datetime,
    last: datetime,
    tz: ZoneInfo,
    tolerance: tuple[float, bool],
    as_json: bool,
    as_csv: bool,
) -> None:
    """Per day and event type, SMS_Audit's facts against the log's events; exits 1 when
    more differ than --tolerance (so a daily job can alert)."""
    source_option_check(file, dsn)
    if as_json and as_csv:
        raise click.UsageError("--json and --csv: choose one")
    start_day: date = first.date()
    end_day: date = last.date()
    if end_day < start_day:
        raise click.BadParameter("--to is before --from", param_hint="'--to'")
    if (end_day - start_day).days > 3660:
        raise click.BadParameter("the period is longer than ten years", param_hint="'--to'")
    period = Period(start_day, end_day, tz)
    url = database_url()
    bar = ProgressBar("reading SMS_Audit")

    async def work() -> tuple[Report, int]:
        conn = await connect(url)
        try:
            chunks, length = await open_chunks(file, dsn, 5_000, bar)
            bar.start(length)
            return await run_reconcile(conn, chunks, period)
        finally:
            await conn.close()

    try:
        report, skipped = asyncio.run(work())
    except SourceFormatError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.finish()
    allowed, percent = tolerance
    ok = report.within(allowed, percent=percent)
    if as_json:
        click.echo(json.dumps({**report.as_json(), "unreadable": skipped, "withinTolerance": ok}))
    elif as_csv:
        click.echo(report.to_csv(), nl=False)
    else:
        _print_table(report, skipped)
        limit = f"{allowed:g}%" if percent else f"{allowed:g}"
        verdict = "within" if ok else "ABOVE"
        click.echo(f"\n{report.unmatched:,} unmatched event(s): {verdict} the tolerance of {limit}")
    if not ok:
        sys.exit(1)
