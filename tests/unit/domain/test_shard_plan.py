"""The shard plan (domain.shard_plan): every shard planned once, fair shares, few moves."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from activitylog.domain.shard_plan import moves, plan_shards

names = st.sets(st.sampled_from([f"w{i}" for i in range(8)]), min_size=1, max_size=8)


@st.composite
def situations(draw: st.DrawFn) -> tuple[int, set[str], dict[int, str]]:
    shards = draw(st.integers(min_value=1, max_value=32))
    members = draw(names)
    holders_pool = sorted(members | {"gone"})
    holders = draw(
        st.dictionaries(st.integers(0, shards - 1), st.sampled_from(holders_pool), max_size=shards)
    )
    return shards, members, holders


@given(situations())
def test_every_shard_has_exactly_one_member_and_shares_are_fair(
    situation: tuple[int, set[str], dict[int, str]],
) -> None:
    shards, members, holders = situation
    plan = plan_shards(shards, members, holders)
    assert set(plan) == members
    planned = [k for taken in plan.values() for k in taken]
    assert sorted(planned) == list(range(shards))
    sizes = [len(taken) for taken in plan.values()]
    assert max(sizes) - min(sizes) <= 1


@given(situations())
def test_a_member_within_its_share_keeps_what_it_holds(
    situation: tuple[int, set[str], dict[int, str]],
) -> None:
    shards, members, holders = situation
    plan = plan_shards(shards, members, holders)
    for name in members:
        held = {k for k, h in holders.items() if h == name}
        if len(held) <= shards // len(members):
            assert held <= plan[name]


@given(situations())
def test_every_member_computes_the_same_plan_and_moves_never_clash(
    situation: tuple[int, set[str], dict[int, str]],
) -> None:
    shards, members, holders = situation
    plan = plan_shards(shards, members, holders)
    assert plan == plan_shards(shards, sorted(members, reverse=True), dict(holders))
    taken: list[int] = []
    for name in members:
        take, drop = moves(name, plan, holders)
        assert not take & set(holders)  # only free shards are taken
        assert drop == {k for k, h in holders.items() if h == name} - plan[name]
        taken += take
    assert len(taken) == len(set(taken))


def test_a_dead_workers_shards_go_to_the_living_and_a_new_worker_gets_its_share() -> None:
    holders = {0: "a", 1: "a", 2: "b", 3: "b"}
    after_b_died = plan_shards(4, {"a"}, holders)
    assert after_b_died == {"a": frozenset({0, 1, 2, 3})}
    joined = plan_shards(4, {"a", "c"}, {k: "a" for k in range(4)})
    assert len(joined["a"]) == len(joined["c"]) == 2
    assert moves("a", joined, {k: "a" for k in range(4)}) == (frozenset(), joined["c"])
    assert plan_shards(4, set(), holders) == {}
