"""Which worker consumes which shard of the stream: a fair plan every worker computes alike.

Each live worker gets ⌊N/M⌋ or ⌈N/M⌉ of the N shards. A shard stays with the live worker
that holds it while that worker is within its share, so a worker joining or leaving moves
only the shards it must; the ones left over go to the workers with room, in name order.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping


def plan_shards(
    shards: int, members: Collection[str], holders: Mapping[int, str]
) -> dict[str, frozenset[int]]:
    """Each live member's shards. `holders` names the live holder of each leased shard (a
    holder that is not a member keeps nothing); every shard is planned for some member."""
    names = sorted(set(members))
    if not names:
        return {}
    held: dict[str, list[int]] = {name: [] for name in names}
    for shard in sorted(holders):
        if 0 <= shard < shards and holders[shard] in held:
            held[holders[shard]].append(shard)
    base, extra = divmod(shards, len(names))
    # The larger shares go to the members holding most already: the fewest moves.
    by_holding = sorted(names, key=lambda name: (-len(held[name]), name))
    share = {name: base + (1 if i < extra else 0) for i, name in enumerate(by_holding)}
    plan = {name: held[name][: share[name]] for name in names}
    kept = {shard for taken in plan.values() for shard in taken}
    free = iter(shard for shard in range(shards) if shard not in kept)
    for name in names:
        while len(plan[name]) < share[name]:
            plan[name].append(next(free))
    return {name: frozenset(taken) for name, taken in plan.items()}


def moves(
    name: str, plan: Mapping[str, frozenset[int]], holders: Mapping[int, str]
) -> tuple[frozenset[int], frozenset[int]]:
    """What `name` does next: (shards to take: planned for it and free, shards to give up)."""
    mine = plan.get(name, frozenset())
    held = frozenset(shard for shard, holder in holders.items() if holder == name)
    take = frozenset(shard for shard in mine - held if shard not in holders)
    return take, held - mine
