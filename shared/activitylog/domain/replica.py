"""Which server answers a read: the streaming replica while it is fresh enough, else the primary.

The replica's staleness is bounded from above by two measures, and the tighter one counts:
- the primary's flushed WAL position, sampled every check: once the replica has replayed a
  position the primary had at time t, it shows at least what the primary showed at t, so it
  is at most `now - t` behind (exact when idle: an idle primary does not move);
- `now() - pg_last_xact_replay_timestamp()` on the replica: it has replayed that commit, so
  it is at most that far behind (tight under steady writes; it grows while the primary is
  idle, which is why it is never used alone).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum


class ReadsOn(StrEnum):
    """Why the reads go where they go (the health page says it in these words)."""

    REPLICA = "replica"
    # The primary cannot be asked for its position: the replica is the best there is.
    REPLICA_PRIMARY_UNREACHABLE = "replica (primary unreachable)"
    LAGGING = "primary (replica lagging)"
    UNREACHABLE = "primary (replica unreachable)"
    NOT_A_REPLICA = "primary (the read server is not in recovery)"
    UNKNOWN = "primary (replica not checked yet)"


@dataclass(frozen=True, slots=True)
class ReplicaProbe:
    """What the replica says of itself in one check."""

    in_recovery: bool
    replay_lsn: int | None
    receive_lsn: int | None
    # now() - pg_last_xact_replay_timestamp(), seconds (None before the first replayed commit).
    replay_age_s: float | None
    paused: bool = False


@dataclass(frozen=True, slots=True)
class ReadChoice:
    """The decision of one check: where reads go, why, and the lag it measured (seconds)."""

    on: ReadsOn
    lag_s: float | None

    @property
    def use_replica(self) -> bool:
        return self.on in (ReadsOn.REPLICA, ReadsOn.REPLICA_PRIMARY_UNREACHABLE)


NOT_CHECKED = ReadChoice(ReadsOn.UNKNOWN, None)


class PrimaryPositions:
    """The primary's flushed WAL positions sampled by recent checks (oldest first)."""

    def __init__(self, keep: int = 128) -> None:
        self._samples: deque[tuple[float, int]] = deque(maxlen=keep)

    def add(self, at: float, lsn: int) -> None:
        self._samples.append((at, lsn))

    def newest_replayed(self, replay_lsn: int) -> float | None:
        """The time of the newest sample the replica has replayed up to, if any."""
        for at, lsn in reversed(self._samples):
            if lsn <= replay_lsn:
                return at
        return None


def replica_lag(positions: PrimaryPositions, probe: ReplicaProbe, now: float) -> float | None:
    """The tighter of the two upper bounds on how far the replica is behind (None: no bound)."""
    bounds: list[float] = []
    if probe.replay_lsn is not None:
        at = positions.newest_replayed(probe.replay_lsn)
        if at is not None:
            bounds.append(max(0.0, now - at))
    if probe.replay_age_s is not None:
        bounds.append(max(0.0, probe.replay_age_s))
    return min(bounds) if bounds else None


def choose(
    positions: PrimaryPositions,
    probe: ReplicaProbe | None,
    primary_answered: bool,
    now: float,
    max_lag_s: float,
) -> ReadChoice:
    """Where reads go after a check that sampled the primary (when it answered) then the replica
    (`probe`, None when it did not answer in time)."""
    if probe is None:
        return ReadChoice(ReadsOn.UNREACHABLE, None)
    if not probe.in_recovery:
        # Promoted, or pointed at a primary: it no longer follows ours, so it may diverge.
        return ReadChoice(ReadsOn.NOT_A_REPLICA, None)
    lag = replica_lag(positions, probe, now)
    if not primary_answered:
        # Falling back would meet the same outage; the replica holds what the primary had.
        return ReadChoice(ReadsOn.REPLICA_PRIMARY_UNREACHABLE, lag)
    if lag is None or lag > max_lag_s:
        return ReadChoice(ReadsOn.LAGGING, lag)
    return ReadChoice(ReadsOn.REPLICA, lag)
