"""Which watched sources are silent past their rule's limit, and for how long."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from activitylog.domain.watch.rules import WatchRule, rule_for
from activitylog.domain.watch.schedule import active_time


@dataclass(frozen=True, slots=True)
class SourceSilence:
    """One watched source: its rule, when it last stored an event, and the silence counted
    inside the rule's window; `silent` once that exceeds the rule's limit."""

    source: str
    rule: WatchRule
    last_seen: datetime | None
    silent_for: timedelta

    @property
    def silent(self) -> bool:
        return self.silent_for > self.rule.max_silence


def evaluate(
    rules: Sequence[WatchRule],
    last_seen: Mapping[str, datetime],
    now: datetime,
    *,
    never_seen_since: datetime,
) -> list[SourceSilence]:
    """Every source some rule covers, in source order.

    `last_seen` holds the known sources and their newest arrival. A rule naming one exact
    source that never reported counts from the rule's creation (else `never_seen_since`).
    """
    found: dict[str, SourceSilence] = {}
    for source, seen in last_seen.items():
        rule = rule_for(source, rules)
        if rule is not None:
            found[source] = SourceSilence(source, rule, seen, active_time(seen, now, rule.window))
    for rule in rules:
        if rule.is_glob or rule.pattern in found:
            continue
        if rule_for(rule.pattern, rules) is not rule:
            continue
        start = rule.created_at or never_seen_since
        found[rule.pattern] = SourceSilence(
            rule.pattern, rule, None, active_time(start, now, rule.window)
        )
    return [found[s] for s in sorted(found)]


def longest_by_rule(statuses: Sequence[SourceSilence]) -> dict[str, tuple[int, timedelta]]:
    """Per rule pattern: how many of its sources are silent, and the longest silence."""
    out: dict[str, tuple[int, timedelta]] = {}
    for s in statuses:
        silent, longest = out.get(s.rule.pattern, (0, timedelta(0)))
        out[s.rule.pattern] = (silent + s.silent, max(longest, s.silent_for))
    return out
