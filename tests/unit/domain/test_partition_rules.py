"""Which partitions are created ahead, and which months retention expires (per client)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from activitylog.domain.partitions import (
    RowDelete,
    add_months,
    first_kept,
    month_of,
    months_to_create,
    parse_month,
    plan_retention,
    statistics_stale,
)

NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
A, B = uuid.UUID(int=1), uuid.UUID(int=2)


def months(first: str, last: str) -> list[date]:
    out, m = [], parse_month(first)
    while m <= parse_month(last):
        out.append(m)
        m = add_months(m, 1)
    return out


def test_month_boundaries_are_utc() -> None:
    # 00:30 on the 1st in Paris is still November in UTC.
    paris_new_month = datetime.fromisoformat("2026-12-01T00:30:00+01:00")
    assert month_of(paris_new_month) == date(2026, 11, 1)


@given(st.dates(min_value=date(1970, 1, 1), max_value=date(2200, 1, 1)), st.integers(-600, 600))
def test_adding_months_round_trips(day: date, n: int) -> None:
    month = day.replace(day=1)
    assert add_months(add_months(month, n), -n) == month


@pytest.mark.parametrize("text", ["2025-1", "25-01", "2025/01", "2025-13", "x"])
def test_a_month_must_be_written_yyyy_mm(text: str) -> None:
    with pytest.raises(ValueError, match="not a month"):
        parse_month(text)


def test_created_ahead_and_for_waiting_events() -> None:
    existing = months("2026-11", "2027-01")
    waiting = [date(2019, 5, 1), date(2026, 12, 1)]
    assert months_to_create(existing, NOW, 3, waiting) == [
        date(2019, 5, 1),
        date(2027, 2, 1),
        date(2027, 3, 1),
    ]


def test_keeping_n_months_keeps_this_month_and_the_n_minus_1_before() -> None:
    assert first_kept(NOW, 1) == date(2026, 12, 1)
    assert first_kept(NOW, 24) == date(2025, 1, 1)


def test_no_retention_keeps_everything() -> None:
    plan = plan_retention(months("2020-01", "2026-12"), NOW, None)
    assert plan.drop == []
    assert plan.deletes == []


def test_installation_keep_drops_whole_months() -> None:
    plan = plan_retention(months("2024-06", "2026-12"), NOW, 24)
    assert plan.drop == months("2024-06", "2024-12")
    assert plan.deletes == []


def test_a_client_keeping_less_has_its_rows_deleted_from_kept_months() -> None:
    plan = plan_retention(months("2026-01", "2026-12"), NOW, 12, {A: 3})
    assert plan.drop == []
    assert plan.deletes == [RowDelete(m, A) for m in months("2026-01", "2026-09")]


def test_a_client_keeping_longer_holds_the_month_and_the_others_rows_go() -> None:
    plan = plan_retention(months("2025-09", "2026-12"), NOW, 12, {A: 14, B: 2})
    assert plan.drop == [date(2025, 9, 1), date(2025, 10, 1)]  # older than A's 14 months
    spared = frozenset({A, B})
    assert RowDelete(date(2025, 11, 1), None, spared) in plan.deletes  # A keeps it
    assert RowDelete(date(2025, 11, 1), A) not in plan.deletes
    assert RowDelete(date(2026, 10, 1), B) in plan.deletes
    assert RowDelete(date(2026, 11, 1), B) not in plan.deletes


def test_restored_months_are_held() -> None:
    plan = plan_retention(months("2024-01", "2026-12"), NOW, 12, held=[date(2024, 3, 1)])
    assert date(2024, 3, 1) not in plan.drop
    assert date(2024, 2, 1) in plan.drop


@given(
    st.integers(1, 36),
    st.dictionaries(st.uuids(), st.integers(1, 36), max_size=4),
)
def test_no_month_is_dropped_while_a_keep_holds_it(
    keep: int, clients: dict[uuid.UUID, int]
) -> None:
    every = months("2022-01", "2026-12")
    plan = plan_retention(every, NOW, keep, clients)
    longest = max([keep, *clients.values()])
    assert all(m < first_kept(NOW, longest) for m in plan.drop)
    assert [m for m in every if m < first_kept(NOW, longest)] == plan.drop
    # A client's rows are deleted exactly from the kept months its own keep has let go.
    for client, own in clients.items():
        cut = {d.month for d in plan.deletes if d.client == client}
        assert cut == {m for m in every if m < first_kept(NOW, own) and m not in plan.drop}


def test_the_whole_log_is_analysed_first_when_its_months_hold_rows() -> None:
    assert statistics_stale(-1, 1)
    assert not statistics_stale(-1, 0)  # nothing to learn yet


def test_the_whole_log_is_analysed_again_once_its_months_moved_far_enough() -> None:
    assert not statistics_stale(100_000, 110_000)  # 10,000 rows: within 1,000 + 10 %
    assert statistics_stale(100_000, 111_001)  # grown
    assert statistics_stale(100_000, 88_999)  # a month dropped
    assert not statistics_stale(0, 1_000)
    assert statistics_stale(0, 1_001)


@given(st.floats(0, 1e12), st.floats(0, 1e12), st.floats(0, 1e12))
def test_a_log_further_from_its_statistics_is_never_fresher(
    analysed: float, rows: float, more: float
) -> None:
    assert not statistics_stale(analysed, analysed)
    if statistics_stale(analysed, analysed + rows):
        assert statistics_stale(analysed, analysed + rows + more)
    if rows <= analysed and statistics_stale(analysed, analysed - rows):
        assert statistics_stale(analysed, max(analysed - rows - more, 0))
