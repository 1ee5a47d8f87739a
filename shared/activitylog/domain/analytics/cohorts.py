"""When a weekly cohort's reply window is still open (docs/ANALYTICS.md, "Open cohorts").

A cohort is the leads whose first message of a campaign fell in one UTC week (Monday to
Monday). A lead messaged at the very end of that week may still reply within N hours
until N hours after the week ends: until then the cohort's "replied within N h" is not
settled, and a low rate means "not yet", not "did not". Such a cohort is *open*.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta


def window_closes_at(week: date, hours: int) -> datetime:
    """When the last lead of the cohort of `week` (its Monday) can no longer reply within
    `hours` of its first message: the week's end plus `hours`."""
    start = datetime.combine(week, time(), UTC)
    return start + timedelta(days=7, hours=hours)


def is_open(week: date, hours: int, now: datetime) -> bool:
    """Whether the cohort of `week` may still gain replies within `hours` at `now`."""
    return now < window_closes_at(week, hours)


def open_weeks(weeks: list[str], hours: int, now: datetime) -> dict[str, datetime]:
    """Of `weeks` (ISO dates of Mondays, as the answers write them), the open ones and when
    each one's window closes."""
    out: dict[str, datetime] = {}
    for text in weeks:
        closes = window_closes_at(date.fromisoformat(text), hours)
        if now < closes:
            out[text] = closes
    return out
