"""The pure watch rules: parsing, which rule covers a source, windows in a time zone,
silence, rate drops and suggestions. No database."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from activitylog.domain.watch import rates, silence
from activitylog.domain.watch.rules import (
    RuleError,
    WatchRule,
    Window,
    format_duration,
    parse_duration,
    parse_window,
    parse_zone,
    rule_for,
)
from activitylog.domain.watch.schedule import active_time, is_active
from activitylog.domain.watch.suggest import active_window, suggest

NY = "America/New_York"
OFFICE = Window(time(8), time(20), NY)
NIGHT = Window(time(22), time(6), "Europe/Berlin")
instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)
windows = st.sampled_from([None, OFFICE, NIGHT, Window(time(0), time(0, 30), "UTC")])


def at(text: str, tz: str = NY) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


def test_durations_windows_and_zones_parse_or_name_the_field() -> None:
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("2h") == parse_duration("7200")
    assert format_duration(timedelta(hours=26, minutes=5)) == "1d 2h"
    assert parse_window("08:00-20:00", NY) == OFFICE
    assert parse_window("22:00-24:00") == Window(time(22), time(0))
    assert parse_window("") is None
    for bad, call in [
        ("every", lambda: parse_duration("soon", "every")),
        ("every", lambda: parse_duration("10s", "every")),
        ("between", lambda: parse_window("8-20", "UTC", "between")),
        ("between", lambda: parse_window("25:00-26:00", "UTC", "between")),
        ("tz", lambda: parse_zone("Mars/Olympus", "tz")),
    ]:
        with pytest.raises(RuleError) as caught:
            call()
        assert caught.value.field == bad


def test_the_most_specific_rule_covers_a_source() -> None:
    sms = WatchRule("n8n:wf-sms", timedelta(minutes=30), OFFICE, id=1)
    n8n = WatchRule("n8n:*", timedelta(hours=2), id=2)
    catch_all = WatchRule("*", timedelta(days=1))
    rules = [catch_all, n8n, sms]
    assert rule_for("n8n:wf-sms", rules) is sms
    assert rule_for("n8n:wf-email", rules) is n8n
    assert rule_for("system:import", rules) is catch_all
    assert rule_for("system:import", [sms, n8n]) is None


def test_office_hours_count_across_a_night_and_a_dst_change() -> None:
    # 19:00 to 09:00 the next day: 1 h before 20:00 and 1 h after 08:00.
    assert active_time(at("2026-03-02T19:00"), at("2026-03-03T09:00"), OFFICE) == timedelta(hours=2)
    # Clocks jump on 2026-03-08 in New York; the office day is still 12 hours long.
    assert active_time(at("2026-03-08T00:00"), at("2026-03-09T00:00"), OFFICE) == timedelta(
        hours=12
    )
    assert is_active(at("2026-03-08T12:00"), OFFICE)
    assert not is_active(at("2026-03-08T21:00"), OFFICE)
    assert is_active(datetime(2026, 3, 8, 23, tzinfo=ZoneInfo("Europe/Berlin")), NIGHT)


@given(instants, st.timedeltas(timedelta(0), timedelta(days=9)), st.floats(0, 1), windows)
def test_active_time_adds_up_over_any_split(
    start: datetime, span: timedelta, cut: float, window: Window | None
) -> None:
    end = start + span
    middle = start + span * cut
    whole = active_time(start, end, window)
    assert timedelta(0) <= whole <= span
    assert whole == active_time(start, middle, window) + active_time(middle, end, window)
    if window is None:
        assert whole == span


def test_a_source_is_silent_once_past_its_limit_inside_its_window() -> None:
    now = at("2026-03-03T08:40")
    sms = WatchRule("n8n:wf-sms", timedelta(minutes=30), OFFICE, id=1)
    mail = WatchRule("n8n:*", timedelta(hours=2), id=2)
    fresh = WatchRule("n8n:wf-new", timedelta(minutes=30), created_at=now - timedelta(hours=1))
    last = {"n8n:wf-sms": at("2026-03-02T19:55"), "n8n:wf-mail": now - timedelta(minutes=90)}
    found = {
        s.source: s for s in silence.evaluate([sms, mail, fresh], last, now, never_seen_since=now)
    }
    # 5 min before 20:00 and 40 min after 08:00: 45 min > 30 min.
    assert found["n8n:wf-sms"].silent_for == timedelta(minutes=45)
    assert found["n8n:wf-sms"].silent
    assert not found["n8n:wf-mail"].silent
    # Never reported since its rule was created an hour ago.
    assert found["n8n:wf-new"].last_seen is None
    assert found["n8n:wf-new"].silent
    assert silence.longest_by_rule(list(found.values()))["n8n:*"] == (0, timedelta(minutes=90))


def test_a_rate_drop_is_judged_against_the_same_weekday_hour() -> None:
    hour = datetime(2026, 3, 2, 14, tzinfo=UTC)
    assert rates.baseline_hours(hour)[0] == datetime(2026, 2, 23, 14, tzinfo=UTC)
    dropped = rates.check("s", hour, 12, [852, 840, 0, 900], fraction=0.25, min_baseline=20)
    assert dropped.median == 846
    assert dropped.dropped
    assert not rates.check(
        "s", hour, 400, [852, 840, 0, 900], fraction=0.25, min_baseline=20
    ).dropped
    # Too little usual traffic to judge.
    assert not rates.check("s", hour, 0, [3, 5, 4, 4], fraction=0.25, min_baseline=20).dropped


def _office_cadence(days: int, every: timedelta) -> list[datetime]:
    zone = ZoneInfo(NY)
    minutes = []
    for day in range(days):
        t = datetime(2026, 3, 1, 8, tzinfo=zone) + timedelta(days=day)
        while t.astimezone(zone).hour < 20:
            minutes.append(t.astimezone(UTC))
            t += every
    return minutes


def test_suggestions_follow_the_real_cadence() -> None:
    minutes = _office_cadence(30, timedelta(minutes=20))
    assert active_window(minutes, NY) == OFFICE
    found = suggest("n8n:wf-sms", minutes, tz=NY)
    assert found is not None
    assert found.gap_percentile == timedelta(minutes=20)
    assert found.max_silence == timedelta(minutes=30)
    assert found.window == OFFICE
    assert found.command() == (
        "activitylog watch add 'n8n:wf-sms' --every 30m --between 08:00-20:00 --tz " + NY
    )
    # Around the clock, every 7 minutes: no window, a limit above the gaps.
    steady = [datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=7 * n) for n in range(3000)]
    around = suggest("steady", steady)
    assert around is not None
    assert around.window is None
    assert around.max_silence == timedelta(minutes=15)
    assert suggest("rare", steady[:5]) is None
