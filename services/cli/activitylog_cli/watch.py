"""`activitylog watch add|list|remove|suggest`: the sources that must keep reporting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import asyncpg
import click

from activitylog.domain.watch import suggest as suggestions
from activitylog.domain.watch.rules import (
    RuleError,
    WatchRule,
    format_duration,
    parse_duration,
    parse_pattern,
    parse_window,
    parse_zone,
)
from activitylog.runtime.db import connect
from activitylog.storage import watch_rules
from activitylog.storage.activity_log import extracts
from activitylog_cli.support import database_url

T = TypeVar("T")


def _run(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async def run() -> T:
        conn = await connect(database_url())
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


def _describe(rule: WatchRule) -> str:
    window = f"between {rule.window.text()}" if rule.window else "always"
    return f"{rule.id}\t{rule.pattern}\tevery {format_duration(rule.max_silence)}\t{window}"


@click.group()
def watch() -> None:
    """Expected sources: alert when a source stops reporting (the retry service checks)."""


@watch.command("add")
@click.argument("source")
@click.option("--every", required=True, help="longest allowed silence: 30m, 2h, 1h30m")
@click.option("--between", default="", help="daily window the limit applies in: 08:00-20:00")
@click.option("--tz", default="UTC", help="time zone of --between, e.g. America/New_York")
def add(source: str, every: str, between: str, tz: str) -> None:
    """Expect SOURCE (or a pattern such as 'n8n:*') to store events at least --every."""
    try:
        rule = WatchRule(
            parse_pattern(source),
            parse_duration(every, "--every"),
            parse_window(between, parse_zone(tz, "--tz"), "--between"),
        )
    except RuleError as exc:
        raise click.BadParameter(exc.message, param_hint=exc.field) from None
    kept = _run(lambda conn: watch_rules.add(conn, rule))
    click.echo(f"watching {_describe(kept)}")


@watch.command("list")
def list_rules() -> None:
    """The rules, and the sources currently silent or below their usual rate."""

    async def work(conn: asyncpg.Connection) -> tuple[list[WatchRule], list[watch_rules.Announced]]:
        return await watch_rules.list_rules(conn), await watch_rules.announced(
            conn, firing_only=True
        )

    rules, firing = _run(work)
    if not rules:
        click.echo("no watch rules (add one with `activitylog watch add SOURCE --every 30m`)")
    for rule in rules:
        click.echo(_describe(rule))
    for a in firing:
        seen = f"last event {a.last_seen:%Y-%m-%d %H:%M} UTC" if a.last_seen else "no event yet"
        click.echo(f"! {a.kind}: {a.source} (rule {a.rule}) since {a.since:%H:%M} UTC; {seen}")


@watch.command("remove")
@click.argument("rule")
def remove(rule: str) -> None:
    """Remove the rule with this id or pattern."""
    gone = _run(lambda conn: watch_rules.remove(conn, rule))
    if gone is None:
        raise click.ClickException(f"no watch rule {rule!r}")
    click.echo(f"removed {_describe(gone)}")


@watch.command("suggest")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 90))
@click.option("--tz", default="UTC", help="time zone of the proposed daily windows")
@click.option("--source", "pattern", default=None, help="only sources LIKE this, e.g. 'n8n:%'")
@click.option("--percentile", default=99.0, show_default=True, type=click.FloatRange(50, 100))
@click.option("--accept", is_flag=True, help="add every proposed rule (else only print them)")
def suggest(days: int, tz: str, pattern: str | None, percentile: float, accept: bool) -> None:
    """Propose a rule per source from its cadence over the last --days: the daily window it
    is usually active in and a margin over the given percentile of the gaps inside it."""
    try:
        zone = parse_zone(tz, "--tz")
    except RuleError as exc:
        raise click.BadParameter(exc.message, param_hint=exc.field) from None
    since = datetime.now(UTC) - timedelta(days=days)
    minutes = _run(lambda conn: extracts.event_minutes_by_source(conn, since, pattern))
    proposed = []
    for source, seen in sorted(minutes.items()):
        found = suggestions.suggest(source, seen, tz=zone, p=percentile / 100)
        if found is None:
            click.echo(f"# {source}: too little history to propose a limit ({len(seen)} minutes)")
            continue
        proposed.append(found)
        click.echo(
            f"# {source}: {found.gaps} gaps over {found.days} days, "
            f"p{percentile:g} {format_duration(found.gap_percentile)}"
        )
        click.echo(found.command())
    if not minutes:
        click.echo(f"no events in the last {days} days")
    if accept and proposed:

        async def add_all(conn: asyncpg.Connection) -> None:
            for s in proposed:
                await watch_rules.add(conn, WatchRule(s.source, s.max_silence, s.window))

        _run(add_all)
        click.echo(f"added {len(proposed)} rule(s)")
