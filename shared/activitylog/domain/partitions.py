"""The log's months: which partitions to create ahead, and which months retention expires,
for the installation and for each client (pure: docs/RUNBOOK.md §18)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime


def month_of(at: datetime) -> date:
    """The first day of `at`'s month, in UTC (partitions are cut at UTC month starts)."""
    utc = at.astimezone(UTC)
    return date(utc.year, utc.month, 1)


def add_months(month: date, n: int) -> date:
    """`month` (a first day) moved by `n` months."""
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def parse_month(text: str) -> date:
    """`2025-01` → 2025-01-01; ValueError otherwise."""
    year, _, month = text.partition("-")
    if len(year) != 4 or len(month) != 2 or not (year + month).isdigit():
        raise ValueError(f"not a month (YYYY-MM): {text!r}")
    if not 1 <= int(month) <= 12:
        raise ValueError(f"not a month (YYYY-MM): {text!r}")
    return date(int(year), int(month), 1)


def month_label(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def months_to_create(
    existing: Iterable[date], now: datetime, ahead: int, waiting: Iterable[date] = ()
) -> list[date]:
    """The partitions to create: this month and `ahead` after it, and every month whose
    events wait in the default partition (late, backfilled or far-future ones), minus those
    that exist."""
    current = month_of(now)
    wanted = {add_months(current, n) for n in range(ahead + 1)} | set(waiting)
    return sorted(wanted - set(existing))


# Autovacuum's rule for a table's statistics (a threshold plus a share of its rows), which
# it applies to each month but never to the partitioned parent: the whole log's statistics.
STATISTICS_THRESHOLD = 1_000
STATISTICS_SHARE = 0.1


def statistics_stale(analysed_rows: float, rows: float) -> bool:
    """Whether the whole log needs an ANALYZE: never analysed (`analysed_rows` below 0)
    while its months hold rows, or their `rows` now far from what it last counted."""
    if analysed_rows < 0:
        return rows > 0
    return abs(rows - analysed_rows) > STATISTICS_THRESHOLD + STATISTICS_SHARE * analysed_rows


def first_kept(now: datetime, keep_months: int) -> date:
    """Keeping N months keeps the current month and the N−1 before it."""
    return add_months(month_of(now), -(keep_months - 1))


@dataclass(frozen=True, slots=True)
class RowDelete:
    """Rows of one month archived then deleted, the month itself staying: one client's
    (`client`), or (client None) those of every client but `sparing` and of no client."""

    month: date
    client: uuid.UUID | None
    sparing: frozenset[uuid.UUID] = frozenset()


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    """What a retention run does: whole months archived then dropped, and rows of months
    that some client still keeps archived then deleted."""

    drop: list[date] = field(default_factory=list)
    deletes: list[RowDelete] = field(default_factory=list)


def plan_retention(
    months: Iterable[date],
    now: datetime,
    keep_months: int | None,
    client_keep: Mapping[uuid.UUID, int] | None = None,
    *,
    held: Iterable[date] = (),
) -> RetentionPlan:
    """Which of the log's `months` expire. `keep_months` is the installation's (None: keep
    everything), `client_keep` the clients that set their own. A month is dropped only when
    every keep has let it go; before that, the rows whose keep has expired are deleted from
    it. `held` months (restored from the archive lately) stay as they are."""
    clients = dict(client_keep or {})
    present = sorted(set(months) - set(held))

    def expired(keep: int) -> list[date]:
        return [m for m in present if m < first_kept(now, keep)]

    drop = expired(max([keep_months, *clients.values()])) if keep_months is not None else []
    deletes: list[RowDelete] = []
    if keep_months is not None:
        spared = frozenset(clients)
        deletes += [RowDelete(m, None, spared) for m in expired(keep_months) if m not in drop]
    for client in sorted(clients, key=str):
        deletes += [RowDelete(m, client) for m in expired(clients[client]) if m not in drop]
    return RetentionPlan(drop, sorted(deletes, key=lambda d: (d.month, str(d.client))))
