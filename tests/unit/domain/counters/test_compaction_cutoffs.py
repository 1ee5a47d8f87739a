"""Where compaction cuts: every cutoff on its bucket's boundary, days kept past the
dashboard's 30-day window before they become months."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from activitylog.domain.counters.rollups import KEEP_DAYS, Grain, compaction_cutoffs, truncate

NOW = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
)


@given(now=NOW)
def test_each_cutoff_is_on_its_buckets_boundary(now: datetime) -> None:
    cut = compaction_cutoffs(now)
    assert cut.minutes_before == truncate(cut.minutes_before, Grain.HOUR)
    assert cut.hours_before == truncate(cut.hours_before, Grain.DAY)
    assert cut.arrival_hours_before == truncate(cut.arrival_hours_before, Grain.DAY)
    assert cut.days_before == truncate(cut.days_before, Grain.MONTH)
    assert cut.days_before.day == 1


@given(now=NOW)
def test_the_dashboards_thirty_days_stay_days(now: datetime) -> None:
    cut = compaction_cutoffs(now)
    assert cut.days_before <= now - KEEP_DAYS
    assert cut.days_before <= truncate(now, Grain.DAY) - timedelta(days=30)
    # ... and no more than a month and a half of days is kept beyond the window.
    assert now - cut.days_before < KEEP_DAYS + timedelta(days=31)
