"""Time inside a rule's daily window, in its time zone (daylight saving included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activitylog.domain.watch.rules import Window


def _intervals(since: datetime, until: datetime, window: Window) -> list[tuple[datetime, datetime]]:
    """The window's occurrences that may overlap [since, until), in UTC."""
    zone = window.zone
    first = since.astimezone(zone).date() - timedelta(days=1)
    last = until.astimezone(zone).date()
    found = []
    day = first
    while day <= last:
        start = datetime.combine(day, window.start, tzinfo=zone)
        end_day = day if window.end > window.start else day + timedelta(days=1)
        end = datetime.combine(end_day, window.end, tzinfo=zone)
        found.append((start.astimezone(UTC), end.astimezone(UTC)))
        day += timedelta(days=1)
    return found


def active_time(since: datetime, until: datetime, window: Window | None) -> timedelta:
    """How much of [since, until) lies inside the window (all of it when there is none)."""
    if until <= since:
        return timedelta(0)
    if window is None:
        return until - since
    total = timedelta(0)
    for start, end in _intervals(since, until, window):
        lo, hi = max(start, since), min(end, until)
        if hi > lo:
            total += hi - lo
    return total


def is_active(at: datetime, window: Window | None) -> bool:
    return window is None or any(s <= at < e for s, e in _intervals(at, at, window))
