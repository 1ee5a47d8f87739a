"""Rate drops: an hour's count far below the same hour's median over the last four weeks."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

WEEKS = 4


def baseline_hours(hour: datetime) -> list[datetime]:
    """The same hour on the same weekday in each of the last four weeks (weekly rhythm:
    a Monday 10:00 is compared with Mondays 10:00, not with a quiet Sunday)."""
    return [hour - timedelta(weeks=k) for k in range(1, WEEKS + 1)]


@dataclass(frozen=True, slots=True)
class RateCheck:
    source: str
    hour: datetime  # start of the hour checked (UTC)
    count: int
    median: float
    fraction: float
    min_baseline: int

    @property
    def dropped(self) -> bool:
        """Below `fraction` of the median, when the median is enough traffic to judge."""
        return self.median >= self.min_baseline and self.count < self.fraction * self.median


def check(
    source: str,
    hour: datetime,
    count: int,
    history: Sequence[int],
    *,
    fraction: float,
    min_baseline: int,
) -> RateCheck:
    """`history`: the counts of `baseline_hours(hour)` (0 where nothing arrived)."""
    median = float(statistics.median(history)) if history else 0.0
    return RateCheck(source, hour, count, median, fraction, min_baseline)
