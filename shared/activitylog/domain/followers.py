"""Following the log: which stored rows a follower (the counters, the analytics) has taken
in, decided in pure code.

A row's place is (tx, position): the id of the transaction that stored it and a number
drawn on insert. Numbers are drawn before their transactions commit, so reading "every row
above the last position" would skip a row that commits after a higher one was read. A
follower therefore reads only rows whose transaction id is below the oldest transaction
still running that could write the log (`pg_snapshot_xmin`, leaving out other databases'
sessions: storage.log_followers.HORIZON_TX): those transactions have ended, so their rows are all
visible or never will be, and every transaction still to commit a row has a higher id. It
reads them in (tx, position) order from its cursor on, and moves the cursor in the same
transaction as it applies them: each row is taken in exactly once, in any interleaving.

A row stored before the followers existed has no place (None): it is taken in already.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True, order=True)
class LogPlace:
    """Where a row sits in the order followers read the log."""

    tx: int
    position: int


START = LogPlace(0, 0)


def taken(place: LogPlace | None, cursor: LogPlace) -> bool:
    """Whether a follower at `cursor` has taken in the row at `place`."""
    return place is None or place <= cursor


def lag_seconds(untaken_since: datetime | None, now: datetime) -> float:
    """How far a follower trails the log: the age of the oldest row it has not taken in
    (its arrival time), 0 when it has taken in every row."""
    if untaken_since is None:
        return 0.0
    return max((now - untaken_since).total_seconds(), 0.0)
