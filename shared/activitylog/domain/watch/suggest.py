"""Rules proposed from a source's real cadence: its active hours and a high percentile of
the gaps between its arrivals inside them. Proposals only; an operator accepts them."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from activitylog.domain.watch.rules import Window, format_duration
from activitylog.domain.watch.schedule import active_time

# An hour of the day is "active" when the source reported in it on this share of its days.
ACTIVE_HOUR_SHARE = 0.5
MIN_GAPS = 20  # fewer gaps than this say too little about a cadence
MARGIN = 1.5  # head-room over the observed percentile, so normal jitter does not page anyone
_STEPS = (timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))


@dataclass(frozen=True, slots=True)
class Suggestion:
    source: str
    max_silence: timedelta
    window: Window | None
    gap_percentile: timedelta  # the observed percentile before the margin
    gaps: int
    days: int

    def command(self) -> str:
        between = (
            f" --between {self.window.start:%H:%M}-{self.window.end:%H:%M}" if self.window else ""
        )
        tz = f" --tz {self.window.tz}" if self.window and self.window.tz != "UTC" else ""
        every = format_duration(self.max_silence).replace(" ", "")
        return f"activitylog watch add '{self.source}' --every {every}{between}{tz}"


def active_window(minutes: Sequence[datetime], tz: str) -> Window | None:
    """The shortest daily span (local hours) holding every hour the source is usually active
    in; None when that is the whole day."""
    zone = ZoneInfo(tz)
    local = [m.astimezone(zone) for m in minutes]
    days = len({m.date() for m in local})
    per_hour = Counter(h for _, h in {(m.date(), m.hour) for m in local})
    hours = sorted(h for h, n in per_hour.items() if n >= ACTIVE_HOUR_SHARE * days)
    if not hours or len(hours) >= 22:
        return None
    # The longest run of inactive hours (circular) is the night; the window is the rest.
    inactive = [h for h in range(24) if h not in hours]
    best_start, best_len = 0, 0
    for start in inactive:
        length = 0
        while (start + length) % 24 in inactive and length < 24:
            length += 1
        if length > best_len:
            best_start, best_len = start, length
    begin = (best_start + best_len) % 24
    return Window(time(begin), time(best_start), tz)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in (0, 1])."""
    ordered = sorted(values)
    return ordered[max(math.ceil(p * len(ordered)) - 1, 0)]


def _round_up(value: timedelta) -> timedelta:
    step = next((s for s in reversed(_STEPS) if value >= 4 * s), _STEPS[0])
    return step * math.ceil(value / step)


def suggest(
    source: str,
    minutes: Sequence[datetime],
    *,
    tz: str = "UTC",
    p: float = 0.99,
) -> Suggestion | None:
    """A rule for `source` from its arrival minutes (sorted, distinct); None if too few."""
    if len(minutes) <= MIN_GAPS:
        return None
    window = active_window(minutes, tz)
    gaps = [active_time(a, b, window).total_seconds() for a, b in itertools.pairwise(minutes)]
    gaps = [g for g in gaps if g > 0]
    if len(gaps) < MIN_GAPS:
        return None
    observed = timedelta(seconds=percentile(gaps, p))
    limit = max(_round_up(observed * MARGIN), _STEPS[0])
    days = (minutes[-1] - minutes[0]).days + 1
    return Suggestion(source, limit, window, observed, len(gaps), days)
