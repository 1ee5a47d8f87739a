"""The analytics rules on hand-computed histories, and order independence, without I/O."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from activitylog.domain.analytics.counting import (
    CLIENT_KEPT,
    FULL_GRAIN,
    GRAINS,
    contributions,
    delay_bucket,
    delta,
    week_of,
)
from activitylog.domain.analytics.rules import (
    AnalyticsEvent,
    Facts,
    analytics_event,
    campaign_of,
    merge_leads,
    update_lead,
)
from activitylog_testing.analytics_history import (
    CAMPAIGN,
    CLIENT,
    LATE_REPLY,
    LATE_REPLY_COUNTS,
    SOURCE,
    T0,
    THREE_MESSAGES,
    THREE_MESSAGES_COUNTS,
    at,
)

LEAD = uuid.UUID(int=7)


def events(history: list[tuple[str, float, str | None, str | None]]) -> list[AnalyticsEvent]:
    out = []
    for event_type, hours, campaign, carrier in history:
        metadata = {"campaign_id": campaign} if campaign else {}
        if carrier:
            metadata["carrier"] = carrier
        event = analytics_event(LEAD, event_type, at(hours), SOURCE, metadata)
        assert event is not None
        out.append(event)
    return out


def counts(facts: list[Facts]) -> dict[tuple[str, str, int], int]:
    out: Counter[tuple[str, str, int]] = Counter()
    for key, n in contributions(facts).items():
        if key.grain != FULL_GRAIN:
            continue
        assert (key.client_id, key.week, key.source) == (CLIENT, week_of(T0), SOURCE)
        out[(key.metric, key.dim, key.bucket)] += n
    return dict(out)


def by_campaign(facts: list[Facts], campaign: str) -> dict[tuple[str, str, int], int]:
    return counts([f for f in facts if f.campaign in (campaign, "")])


def test_three_messages_match_the_hand_computed_counts() -> None:
    facts = update_lead([], CLIENT, events(THREE_MESSAGES))
    assert {f.campaign for f in facts} == {CAMPAIGN, ""}
    assert by_campaign(facts, CAMPAIGN) == THREE_MESSAGES_COUNTS


def test_a_reply_one_second_past_24_hours_is_not_within_24_hours() -> None:
    facts = update_lead([], CLIENT, events(LATE_REPLY))
    assert counts(facts) == LATE_REPLY_COUNTS


def test_delay_buckets_include_their_upper_bound() -> None:
    assert delay_bucket(timedelta(0)) == 0
    assert delay_bucket(timedelta(hours=1)) == 0
    assert delay_bucket(timedelta(hours=1, microseconds=1)) == 1
    assert delay_bucket(timedelta(hours=24)) == 5
    assert delay_bucket(timedelta(hours=24, seconds=1)) == 6
    assert delay_bucket(timedelta(days=365)) == 11


def test_a_campaign_is_a_non_empty_string_in_metadata() -> None:
    assert campaign_of({"campaign_id": "a", "campaignId": "b"}) == "b"  # the plan's name first
    assert campaign_of({"campaignId": "", "campaign_id": "a"}) == "a"
    assert campaign_of({"campaign_id": 7}) == ""
    assert campaign_of(None) == ""


def test_only_the_first_reply_after_a_send_counts_and_a_reply_alone_counts_nothing() -> None:
    only_reply = update_lead([], CLIENT, events([("INBOUND_REPLY", 2.0, None, None)]))
    assert counts(only_reply) == {}


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 4))
def test_any_order_and_batching_gives_the_same_facts_and_counts(rng, batches: int) -> None:
    history = events(THREE_MESSAGES + LATE_REPLY)
    expected = update_lead([], CLIENT, history)
    shuffled = history[:]
    rng.shuffle(shuffled)
    facts: list[Facts] = []
    total: Counter = Counter()
    for i in range(batches):
        part = shuffled[i::batches]
        after = update_lead(facts, CLIENT, part)
        total.update(delta(facts, after))
        facts = after
    assert facts == expected
    assert {k: n for k, n in total.items() if n} == dict(contributions(expected))


def test_a_client_move_moves_every_count() -> None:
    facts = update_lead([], CLIENT, events(THREE_MESSAGES))
    other = uuid.UUID(int=0xB2)
    moved = update_lead(facts, other, [])
    change = delta(facts, moved)
    kept = sum(n for k, n in contributions(facts).items() if k.grain & CLIENT_KEPT)
    assert sum(n for k, n in change.items() if k.client_id == CLIENT) == -kept
    assert sum(n for k, n in change.items() if k.client_id == other) == kept
    # Grains without the client do not change at all.
    assert not [k for k in change if not k.grain & CLIENT_KEPT]
    assert {k.client_id for k, n in change.items() if n > 0} == {other}


def test_a_late_earlier_message_moves_the_cohort_week() -> None:
    facts = update_lead([], CLIENT, events(LATE_REPLY))
    backfill = analytics_event(
        LEAD, "MESSAGE_SENT", T0 - timedelta(days=10), SOURCE, {"campaign_id": CAMPAIGN}
    )
    assert backfill is not None
    after = update_lead(facts, CLIENT, [backfill])
    weeks = {k.week for k in contributions(after) if k.campaign == CAMPAIGN}
    assert weeks == {week_of(T0 - timedelta(days=10))}


def test_every_grain_holds_the_same_totals() -> None:
    facts = update_lead([], CLIENT, events(THREE_MESSAGES + LATE_REPLY))
    per_grain: dict[int, Counter[tuple[str, str, int]]] = {g: Counter() for g in GRAINS}
    for key, n in contributions(facts).items():
        per_grain[key.grain][(key.metric, key.dim, key.bucket)] += n
        assert (key.client_id is not None) == bool(key.grain & 1)
        assert (key.source != "") == bool(key.grain & 2)
    assert all(c == per_grain[FULL_GRAIN] for c in per_grain.values())


def test_merging_two_leads_equals_one_lead_with_all_the_events() -> None:
    history = events(THREE_MESSAGES + LATE_REPLY)
    one = update_lead([], CLIENT, history)
    other = uuid.UUID(int=8)
    halves = (history[::2], [replace(e, lead_id=other) for e in history[1::2]])
    kept = update_lead([], CLIENT, halves[0])
    absorbed = update_lead([], CLIENT, halves[1])
    assert merge_leads(LEAD, kept, absorbed) == one
