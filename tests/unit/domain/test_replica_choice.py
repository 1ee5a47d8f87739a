"""Where reads go: the replica while its lag bound is within the limit, else the primary."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from activitylog.domain.replica import PrimaryPositions, ReadsOn, ReplicaProbe, choose, replica_lag

MAX_LAG = 5.0


def probe(replay: int, age: float | None = None, *, in_recovery: bool = True) -> ReplicaProbe:
    return ReplicaProbe(
        in_recovery=in_recovery, replay_lsn=replay, receive_lsn=replay, replay_age_s=age
    )


def positions(*samples: tuple[float, int]) -> PrimaryPositions:
    p = PrimaryPositions()
    for at, lsn in samples:
        p.add(at, lsn)
    return p


def test_idle_primary_with_an_old_last_commit_is_not_lag() -> None:
    # The primary wrote nothing for an hour: the replica has all of it, whatever the
    # replay timestamp says.
    choice = choose(positions((100.0, 5_000)), probe(5_000, age=3_600.0), True, 100.2, MAX_LAG)
    assert choice.on is ReadsOn.REPLICA
    assert choice.lag_s is not None
    assert choice.lag_s < 0.5


def test_one_write_after_a_long_idle_is_bounded_by_the_previous_sample() -> None:
    # Behind the newest sample (a write just happened) but past the one a second before.
    p = positions((99.0, 5_000), (100.0, 5_400))
    choice = choose(p, probe(5_000, age=3_600.0), True, 100.1, MAX_LAG)
    assert choice.on is ReadsOn.REPLICA
    assert choice.lag_s is not None
    assert 1.0 <= choice.lag_s < 1.2


def test_steady_writes_trust_the_replay_timestamp() -> None:
    # Behind every sample the history holds, but its last replayed commit is 0.3 s old.
    choice = choose(positions((100.0, 9_000)), probe(8_000, age=0.3), True, 100.1, MAX_LAG)
    assert choice.on is ReadsOn.REPLICA
    assert choice.lag_s == 0.3


def test_paused_replay_falls_back_once_past_the_limit() -> None:
    p = positions(*((100.0 + i, 5_000 + 100 * i) for i in range(10)))
    # Replayed up to the first sample only; its last commit was long ago.
    stale = choose(p, probe(5_000, age=600.0), True, 109.5, MAX_LAG)
    assert stale.on is ReadsOn.LAGGING
    assert stale.lag_s == 9.5
    fresh = choose(p, probe(5_600, age=600.0), True, 109.5, MAX_LAG)
    assert fresh.on is ReadsOn.REPLICA


def test_no_bound_at_all_reads_on_the_primary() -> None:
    # Behind everything sampled, and no commit replayed since it started.
    choice = choose(positions((100.0, 9_000)), probe(8_000, age=None), True, 100.1, MAX_LAG)
    assert choice.on is ReadsOn.LAGGING
    assert choice.lag_s is None


def test_unreachable_or_promoted_replica_reads_on_the_primary() -> None:
    p = positions((100.0, 5_000))
    assert choose(p, None, True, 100.0, MAX_LAG).on is ReadsOn.UNREACHABLE
    promoted = choose(p, probe(5_000, 0.0, in_recovery=False), True, 100.0, MAX_LAG)
    assert promoted.on is ReadsOn.NOT_A_REPLICA
    assert not promoted.use_replica


def test_primary_unreachable_keeps_reads_on_the_replica_whatever_its_lag() -> None:
    choice = choose(PrimaryPositions(), probe(5_000, age=900.0), False, 100.0, MAX_LAG)
    assert choice.on is ReadsOn.REPLICA_PRIMARY_UNREACHABLE
    assert choice.use_replica


histories = st.lists(
    st.tuples(st.floats(0, 50, allow_nan=False), st.integers(0, 10_000)), max_size=30
).map(lambda xs: sorted(xs))  # times and positions both only grow


@given(
    samples=histories,
    replay=st.integers(0, 10_000),
    age=st.none() | st.floats(0, 1_000, allow_nan=False),
    later=st.floats(0, 10, allow_nan=False),
)
def test_lag_is_the_tighter_upper_bound(
    samples: list[tuple[float, int]], replay: int, age: float | None, later: float
) -> None:
    """The lag never exceeds either bound, and equals one of them when any exists."""
    now = (samples[-1][0] if samples else 0.0) + later
    p = positions(*samples)
    lag = replica_lag(p, probe(replay, age), now)
    by_position = [now - at for at, lsn in samples if lsn <= replay]
    bounds = ([min(by_position)] if by_position else []) + ([age] if age is not None else [])
    if not bounds:
        assert lag is None
        return
    assert lag == min(bounds)
    choice = choose(p, probe(replay, age), True, now, MAX_LAG)
    assert choice.use_replica == (min(bounds) <= MAX_LAG)
