"""Expected sources: silences and rate drops announced once each (then their recovery), and
a gauge per rule. Runs in the retry service; replicas share the work through the database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from activitylog.contract.times import iso
from activitylog.domain.counters.rollups import Grain, truncate
from activitylog.domain.watch import rates, silence
from activitylog.domain.watch.rules import WatchRule, format_duration, rule_for
from activitylog.domain.watch.schedule import is_active
from activitylog.runtime import metrics
from activitylog.runtime.backoff import Backoff
from activitylog.runtime.logs import get_logger
from activitylog.runtime.settings import Settings
from activitylog.storage import event_counts, watch_rules
from activitylog.storage.watch_rules import Announced
from activitylog_retry.alerts import Webhook, slack_escape
from activitylog_retry.periodic import every

log = get_logger("activitylog.retry.watch")

SILENCE = "silence"
RATE = "rate"
CATCH_ALL = "*"
# Sources that stored nothing for this long are no longer known (their rule may name them).
LOOKBACK = timedelta(days=35)
RATE_WINDOW = timedelta(minutes=5)  # the per-source rate gauge's span (whole minutes)


class _Undelivered(Exception):
    """The webhook did not take the message: the claimed change is rolled back and retried."""


@dataclass(frozen=True, slots=True)
class WatchConfig:
    interval_s: float
    default_max_silence_s: float
    rate_fraction: float
    rate_min_baseline: int

    @classmethod
    def from_settings(cls, settings: Settings) -> WatchConfig:
        return cls(
            settings.watch_interval_s,
            settings.watch_default_max_silence_s,
            settings.watch_rate_min_fraction,
            settings.watch_rate_min_baseline,
        )


@dataclass
class Pass:
    """What one check saw and announced."""

    silences: list[silence.SourceSilence] = field(default_factory=list)
    rate_checks: list[tuple[WatchRule, rates.RateCheck]] = field(default_factory=list)
    announced: list[Announced] = field(default_factory=list)


def silence_message(s: silence.SourceSilence) -> str:
    window = " inside its window" if s.rule.window else ""
    last = iso(s.last_seen) or "never"
    return slack_escape(
        f"activitylog: source `{s.source}` is silent: no event stored for "
        f"{format_duration(s.silent_for)}{window} (last event {last}). "
        f"Rule: {s.rule.describe()}. Check the workflow that sends these events; "
        "see docs/RUNBOOK.md#silent-source."
    )


def silence_recovered_message(source: str, previous: Announced | None, now: datetime) -> str:
    since = previous.last_seen if previous else None
    lasted = f" after {format_duration(now - since)} without events" if since else ""
    return slack_escape(
        f"activitylog: source `{source}` recovered: events are stored again{lasted}."
    )


def rate_message(check: rates.RateCheck) -> str:
    return slack_escape(
        f"activitylog: source `{check.source}` stored {check.count} events in the hour from "
        f"{iso(check.hour)}, below {check.fraction:.0%} of its usual {check.median:g} (median of "
        "that hour on the same weekday over the last 4 weeks). Events may be failing before "
        "they reach the log; see docs/RUNBOOK.md#rate-drop."
    )


def rate_recovered_message(check: rates.RateCheck) -> str:
    return slack_escape(
        f"activitylog: source `{check.source}` is back to its usual rate: {check.count} events "
        f"in the hour from {iso(check.hour)} (median {check.median:g})."
    )


class Watcher:
    """Checks the watch rules every `interval_s`; any number of replicas may run one."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        webhook: Webhook,
        config: WatchConfig,
        *,
        backoff: Backoff,
        stop: asyncio.Event,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pool = pool
        self.webhook = webhook
        self.config = config
        self.backoff = backoff
        self.stop = stop
        self.clock = clock
        self._gauged: set[str] = set()
        self._rated: set[tuple[str, str]] = set()

    def _rules(self, stored: list[WatchRule]) -> list[WatchRule]:
        if self.config.default_max_silence_s <= 0 or any(r.pattern == CATCH_ALL for r in stored):
            return stored
        catch_all = WatchRule(CATCH_ALL, timedelta(seconds=self.config.default_max_silence_s))
        return [*stored, catch_all]

    async def check(self) -> Pass:
        """One pass: evaluate every rule, announce what changed, set the gauges."""
        now = self.clock()
        hour = truncate(now, Grain.HOUR) - timedelta(hours=1)  # the last full hour
        async with self.pool.acquire() as conn:
            rules = self._rules(await watch_rules.list_rules(conn))
            await watch_rules.forget(conn, [r.pattern for r in rules])
            last = await event_counts.last_arrivals(conn, now - LOOKBACK)
            counts = (
                await event_counts.arrivals_by_source_hour(
                    conn, [hour, *rates.baseline_hours(hour)]
                )
                if self.config.rate_fraction > 0
                else {}
            )
            known = {(a.rule, a.source, a.kind): a for a in await watch_rules.announced(conn)}
            until = truncate(now, Grain.MINUTE)
            recent = await event_counts.arrivals_by_source_category(
                conn, until - RATE_WINDOW, until
            )
        self._gauge_rates(recent)
        result = Pass(silences=silence.evaluate(rules, last, now, never_seen_since=now))
        for source in sorted(last):
            rule = rule_for(source, rules)
            if rule is None or not counts or not is_active(hour, rule.window):
                continue
            history = [counts.get((source, h), 0) for h in rates.baseline_hours(hour)]
            check = rates.check(
                source,
                hour,
                counts.get((source, hour), 0),
                history,
                fraction=self.config.rate_fraction,
                min_baseline=self.config.rate_min_baseline,
            )
            result.rate_checks.append((rule, check))

        wanted: dict[tuple[str, str, str], tuple[bool, str, datetime | None, str]] = {}
        for s in result.silences:
            text = (
                silence_message(s)
                if s.silent
                else silence_recovered_message(
                    s.source, known.get((s.rule.pattern, s.source, SILENCE)), now
                )
            )
            detail = f"silent for {format_duration(s.silent_for)}; rule {s.rule.describe()}"
            wanted[(s.rule.pattern, s.source, SILENCE)] = (s.silent, text, s.last_seen, detail)
        for rule, c in result.rate_checks:
            text = rate_message(c) if c.dropped else rate_recovered_message(c)
            detail = f"{c.count} events in the hour from {iso(c.hour)}; usual {c.median:g}"
            wanted[(rule.pattern, c.source, RATE)] = (c.dropped, text, last.get(c.source), detail)
        # A firing state nobody evaluates any more (the source moved to another rule, or the
        # hour checked is outside the window) ends quietly.
        for key, previous in known.items():
            if previous.firing and key not in wanted:
                wanted[key] = (False, "", previous.last_seen, previous.detail)

        for (rule_key, source, kind), (firing, text, seen, detail) in wanted.items():
            previous = known.get((rule_key, source, kind))
            if firing == (previous.firing if previous else False):
                continue
            done = await self._announce(rule_key, source, kind, firing, text, seen, detail)
            if done is not None:
                result.announced.append(done)
        self._gauge(rules, result)
        return result

    async def _announce(
        self,
        rule: str,
        source: str,
        kind: str,
        firing: bool,
        text: str,
        last_seen: datetime | None,
        detail: str,
    ) -> Announced | None:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                # The claimed row stays locked while posting: another replica waits, then
                # finds the change made; a failed post rolls the claim back for a later pass.
                changed = await watch_rules.claim_change(
                    conn,
                    rule=rule,
                    source=source,
                    kind=kind,
                    firing=firing,
                    last_seen=last_seen,
                    detail=detail,
                )
                if changed is None:
                    return None
                alert_kind = f"{kind}{'' if firing else '-recovered'}"
                if text and not await self.webhook.post(alert_kind, text):
                    raise _Undelivered
        except _Undelivered:
            return None
        log.info("watch state changed", rule=rule, source=source, kind=kind, firing=firing)
        return changed

    def _gauge(self, rules: list[WatchRule], result: Pass) -> None:
        per_rule = silence.longest_by_rule(result.silences)
        drops: dict[str, int] = {}
        for rule, c in result.rate_checks:
            drops[rule.pattern] = drops.get(rule.pattern, 0) + c.dropped
        patterns = {r.pattern for r in rules}
        for pattern in patterns:
            silent, longest = per_rule.get(pattern, (0, timedelta(0)))
            metrics.WATCH_SILENT_SOURCES.labels(pattern).set(silent)
            metrics.WATCH_SILENCE_SECONDS.labels(pattern).set(longest.total_seconds())
            metrics.WATCH_RATE_DROPS.labels(pattern).set(drops.get(pattern, 0))
        for gone in self._gauged - patterns:
            for gauge in (
                metrics.WATCH_SILENT_SOURCES,
                metrics.WATCH_SILENCE_SECONDS,
                metrics.WATCH_RATE_DROPS,
            ):
                with contextlib.suppress(KeyError):
                    gauge.remove(gone)
        self._gauged = patterns

    def _gauge_rates(self, recent: dict[tuple[str, str], int]) -> None:
        for (source, category), n in recent.items():
            per_second = n / RATE_WINDOW.total_seconds()
            metrics.SOURCE_EVENTS_PER_SECOND.labels(source, category).set(per_second)
        for gone in self._rated - set(recent):
            with contextlib.suppress(KeyError):
                metrics.SOURCE_EVENTS_PER_SECOND.remove(*gone)
        self._rated = set(recent)

    async def run(self) -> None:
        """Check every `interval_s` until stopped; a database outage is a back-off."""
        await every(
            self.config.interval_s,
            self.check,
            stop=self.stop,
            backoff=self.backoff,
            job="watch rules",
        )
