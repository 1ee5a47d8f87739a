"""Watch rules: which sources must report, how often, and when; parsing and matching."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from fnmatch import fnmatchcase
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_PATTERN = 200
_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class RuleError(ValueError):
    """A rule that cannot be kept; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Window:
    """Daily hours [start, end) in a time zone; an end at or before the start runs past midnight."""

    start: time
    end: time
    tz: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def text(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.tz}"


@dataclass(frozen=True, slots=True)
class WatchRule:
    """`pattern` (a source, or a glob such as `n8n:*`) must store an event at least every
    `max_silence`, counted only inside `window` (always, when None)."""

    pattern: str
    max_silence: timedelta
    window: Window | None = None
    created_at: datetime | None = None
    id: int | None = None  # None: the catch-all from the environment

    def matches(self, source: str) -> bool:
        return fnmatchcase(source, self.pattern)

    @property
    def is_glob(self) -> bool:
        return any(c in self.pattern for c in "*?[")

    def describe(self) -> str:
        when = f" between {self.window.text()}" if self.window else ""
        return f"`{self.pattern}` at least every {format_duration(self.max_silence)}{when}"


def parse_duration(text: str, field: str = "every") -> timedelta:
    """`30m`, `2h`, `1h30m`, `90s`, `1d` or plain seconds; positive, at most 30 days."""
    value = text.strip().lower()
    if value.isdigit():
        seconds = int(value)
    else:
        match = _DURATION.match(value)
        if not value or not match or not any(match.groups()):
            raise RuleError(field, f"{text!r} is not a duration such as 30m, 2h or 1h30m")
        d, h, m, s = (int(g or 0) for g in match.groups())
        seconds = ((d * 24 + h) * 60 + m) * 60 + s
    if not 60 <= seconds <= 30 * 86_400:
        raise RuleError(field, "must be between 1 minute and 30 days")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """`2h 5m`, `45m`, `30s`: the largest two units, for messages and pages."""
    seconds = max(int(value.total_seconds()), 0)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return " ".join(parts[:2]) or "0s"


def parse_zone(text: str, field: str = "tz") -> str:
    name = text.strip() or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleError(
            field, f"{text!r} is not a known time zone (e.g. America/New_York)"
        ) from None
    return name


def parse_window(text: str | None, tz: str = "UTC", field: str = "between") -> Window | None:
    """`08:00-20:00` in `tz`; empty means always."""
    if not text or not text.strip():
        return None
    match = _WINDOW.match(text)
    if not match:
        raise RuleError(field, f"{text!r} is not a window such as 08:00-20:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise RuleError(field, f"{text!r} has an impossible time of day")
    start, end = time(h1, m1), time(0, 0) if h2 == 24 else time(h2, m2)
    if start == end and h2 != 24:
        raise RuleError(field, "start and end are the same time; leave it empty for always")
    return Window(start, end, parse_zone(tz))


def parse_pattern(text: str, field: str = "source") -> str:
    pattern = text.strip()
    if not pattern or len(pattern) > MAX_PATTERN or any(ord(c) < 32 for c in pattern):
        raise RuleError(field, f"must be a source or a pattern such as n8n:* (1-{MAX_PATTERN})")
    return pattern


def rule_for(source: str, rules: Iterable[WatchRule]) -> WatchRule | None:
    """The most specific rule covering `source`: an exact source beats a pattern, and a longer
    pattern a shorter one, so `n8n:wf-sms`'s office hours are not overridden by `n8n:*`."""
    matching = [r for r in rules if r.matches(source)]
    if not matching:
        return None
    return max(matching, key=lambda r: (not r.is_glob, len(r.pattern), r.id is not None))
