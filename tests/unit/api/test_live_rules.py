"""The pure rules of the live features, without servers: the ingest's announcement, a live
stream's resume token, reply threads and response times, busy days, open cohorts."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

from activitylog.domain.analytics.cohorts import is_open, open_weeks, window_closes_at
from activitylog.domain.dead_letters import DeadLetter, RetryStatus
from activitylog.domain.followers import LogPlace
from activitylog.use_cases.live import Announcement, LogFollower, announcement_of
from activitylog.use_cases.store_batch import StoreResult
from activitylog_api.event_display import (
    BUSY_DAY_EVENTS,
    response_text,
    thread_days,
    thread_parents,
    week_start,
)

T = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday


def test_an_announcement_travels_as_compact_json() -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    sent = Announcement(frozenset({a, b}), {c: "pending"}, frozenset({"recAbc123"}), True)
    assert Announcement.decode(sent.encode()) == sent
    assert Announcement.decode(b"not json") is None
    assert Announcement.decode(b"[1, 2]") is None
    assert Announcement.decode(b'{"s": ["zz"]}') is None


def test_a_batch_announces_what_it_stored_and_what_it_parked() -> None:
    def accepted(origin: str, **lead: str) -> SimpleNamespace:
        event = SimpleNamespace(**({"lead_airtable_id": None, "lead_id": None} | lead))
        return SimpleNamespace(id=uuid.uuid4(), origin=origin, event=event)

    by_airtable = accepted("1-0", lead_airtable_id="recAbc123")
    by_phone = accepted("1-1")
    parked = accepted("1-2", lead_airtable_id="recLost0001")
    result = StoreResult(
        inserted={by_airtable.id},
        duplicates={by_phone.id},
        refused=[DeadLetter("1-2", "recLost0001", "{}", "no lead", RetryStatus.PENDING)],
    )
    found = announcement_of([by_airtable, by_phone, parked], result)  # type: ignore[list-item]
    assert found.stored == {by_airtable.id, by_phone.id}
    assert found.parked == {parked.id: "pending"}
    assert found.leads == {"recAbc123"}
    assert found.unrouted  # the phone's lead is known only once stored


def test_a_resume_token_is_a_place_in_the_log_or_nothing() -> None:
    follower = LogFollower(None, LogPlace(812, 7))  # type: ignore[arg-type]
    assert follower.token == "812.7"
    assert LogFollower.parse_token("812.7") == LogPlace(812, 7)
    for bad in (None, "", "812", "a.b", "-1.2", "1.2.3", "99999999999999999999.1"):
        assert LogFollower.parse_token(bad) is None, bad


def test_response_times_read_as_people_say_them() -> None:
    assert response_text(45) == "45 s"
    assert response_text(12 * 60 + 30) == "12 min"
    assert response_text(3600 + 27 * 60) == "1 h 27 min"
    assert response_text(2 * 3600) == "2 h"
    assert response_text(51 * 3600) == "2 d 3 h"
    assert response_text(-5) == "0 s"


def event(kind: str, at: datetime, *, ref: str | None = None, reply_to: str | None = None):
    return SimpleNamespace(
        id=uuid.uuid4(), event_type=kind, timestamp=at, message_ref=ref, reply_to=reply_to
    )


def test_a_reply_goes_under_the_latest_message_before_it_within_24_hours() -> None:
    first = event("MESSAGE_SENT", T - timedelta(hours=5))
    latest = event("AI_RESPONSE_SENT", T - timedelta(hours=2))
    reply = event("INBOUND_REPLY", T)
    note = event("NOTE_ADDED", T - timedelta(hours=1))  # not a message
    later = event("MESSAGE_SENT", T + timedelta(minutes=1))  # after the reply
    parents = thread_parents([later, reply, note, latest, first])
    assert parents == {reply.id: latest}

    # More than 24 hours after the latest message: a reply of its own.
    old = event("MESSAGE_SENT", T - timedelta(hours=24, seconds=1))
    alone = event("INBOUND_REPLY", T)
    assert thread_parents([alone, old]) == {}
    # Exactly 24 hours: still under it.
    day = event("MESSAGE_SENT", T - timedelta(hours=24))
    assert thread_parents([alone, day]) == {alone.id: day}


def test_in_reply_to_says_otherwise() -> None:
    named = event("MESSAGE_SENT", T - timedelta(days=3), ref="SM-1")
    latest = event("MESSAGE_SENT", T - timedelta(minutes=5))
    reply = event("INBOUND_REPLY", T, reply_to="SM-1")
    assert thread_parents([reply, latest, named]) == {reply.id: named}
    # It names a message not shown: not second-guessed by time.
    elsewhere = event("INBOUND_REPLY", T, reply_to="SM-gone")
    assert thread_parents([elsewhere, latest]) == {}
    # Any type may name what it answers (an AI answer under a reply, by event id).
    answer = event("AI_RESPONSE_SENT", T + timedelta(minutes=1), reply_to=str(reply.id))
    assert thread_parents([answer, reply, named])[answer.id] is reply


def test_the_timeline_threads_and_marks_a_busy_day() -> None:
    sent = event("MESSAGE_SENT", T - timedelta(hours=3))
    reply = event("INBOUND_REPLY", T - timedelta(hours=1, minutes=33))
    notes = [event("NOTE_ADDED", T - timedelta(days=1, minutes=n)) for n in range(BUSY_DAY_EVENTS)]
    page = [reply, sent, *notes]
    groups = thread_days(page, "UTC", now=T)
    assert [g.title for g in groups] == ["Today", "Yesterday"]
    today = groups[0].rows
    assert [(r.event, r.reply, r.after) for r in today] == [
        (sent, False, None),
        (reply, True, "1 h 27 min"),
    ]
    assert today[1].parent == sent.id
    busy = [r.busy for r in groups[1].rows if r.busy]
    assert len(busy) == 1
    assert busy[0].count == BUSY_DAY_EVENTS
    assert busy[0].text == f"High activity: {BUSY_DAY_EVENTS} events on Tuesday 3 March"
    assert groups[1].rows[0].busy is not None  # the mark heads the day


def test_this_week_starts_on_monday_in_the_admins_zone() -> None:
    assert week_start(T, "UTC") == datetime(2026, 3, 2, tzinfo=UTC)
    # Sunday 23:30 in UTC is already Monday in Kiritimati (UTC+14).
    sunday = datetime(2026, 3, 8, 23, 30, tzinfo=UTC)
    start = week_start(sunday, "Pacific/Kiritimati")
    assert start.date() == date(2026, 3, 9)
    assert start.utcoffset() == timedelta(hours=14)


def test_a_cohort_is_open_until_its_last_lead_can_no_longer_reply_in_time() -> None:
    monday = date(2026, 3, 2)
    closes = window_closes_at(monday, 24)
    assert closes == datetime(2026, 3, 10, tzinfo=UTC)  # next Monday + 24 h
    assert is_open(monday, 24, closes - timedelta(seconds=1))
    assert not is_open(monday, 24, closes)
    assert window_closes_at(monday, 168) == datetime(2026, 3, 16, tzinfo=UTC)
    weeks = ["2026-02-16", "2026-02-23", "2026-03-02"]
    now = datetime(2026, 3, 3, 12, tzinfo=UTC)
    # The week of 23 Feb closed on Tuesday 3 March at 00:00 for 24 h, not yet for 48 h.
    assert open_weeks(weeks, 24, now) == {"2026-03-02": closes}
    assert set(open_weeks(weeks, 48, now)) == {"2026-02-23", "2026-03-02"}
