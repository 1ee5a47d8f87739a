"""Alerts: a dead row is announced once, pending backlog over the threshold, rate limits."""

from __future__ import annotations

import functools

import pytest

from activitylog.domain.dead_letters import RetryStatus
from activitylog.runtime.settings import Settings
from activitylog_retry.alerts import Alerter, Webhook, slack_escape
from activitylog_retry.service import run_retry
from activitylog_testing.polling import wait_for
from activitylog_testing.serving import running
from support import event
from webhook_sink import WebhookSink


class FakeClock:
    """Monotonic time the test moves by hand, so rate limits need no waiting."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def sink():
    async with WebhookSink() as s:
        yield s


def alerter(pool, url: str | None, clock, *, threshold: int = 20, interval: float = 300):
    return Alerter(
        pool, Webhook(url, 2.0), pending_threshold=threshold, min_interval_s=interval, clock=clock
    )


async def test_a_dead_row_is_announced_once_with_what_lead_and_why(pool, add_row, sink) -> None:
    await add_row(
        event(1, leadAirtableId="recDeadLead1"),
        status=RetryStatus.DEAD,
        lead_id="recDeadLead1",
        reason="lead recDeadLead1 <gone> & never came back",
    )
    clock = FakeClock()
    a = alerter(pool, sink.url, clock)
    assert await a.check_dead() == 1
    (text,) = sink.texts
    assert "1 retry_queue row went dead" in text
    assert "MESSAGE_SENT for lead recDeadLead1" in text
    assert "lead recDeadLead1 &lt;gone&gt; &amp; never came back" in text

    clock.now += 10_000
    assert await a.check_dead() == 0
    assert len(sink.texts) == 1


async def test_dead_alerts_are_rate_limited_and_summarised(pool, add_row, sink) -> None:
    clock = FakeClock()
    a = alerter(pool, sink.url, clock, interval=300)
    await add_row(event(2), status=RetryStatus.DEAD)
    assert await a.check_dead() == 1
    for n in range(12):
        await add_row(event(100 + n), status=RetryStatus.DEAD)
    clock.now += 299
    assert await a.check_dead() == 0
    assert len(sink.texts) == 1
    clock.now += 1
    assert await a.check_dead() == 12
    text = sink.texts[-1]
    assert "12 retry_queue rows went dead" in text
    assert "… and 2 more" in text


async def test_pending_backlog_over_the_threshold(pool, add_row, sink) -> None:
    clock = FakeClock()
    a = alerter(pool, sink.url, clock, threshold=3, interval=60)
    for n in range(3):
        await add_row(event(n))
    assert await a.check_pending() == 3
    assert sink.texts == []
    await add_row(event(3))
    assert await a.check_pending() == 4
    assert sink.texts == [
        "activitylog: 4 retry_queue rows are pending (threshold 3). "
        "Events are waiting for a lead or for the database; "
        "see /admin/retry-queue."
    ]
    await a.check_pending()
    assert len(sink.texts) == 1
    clock.now += 60
    await a.check_pending()
    assert len(sink.texts) == 2


async def test_an_unreachable_webhook_loses_no_alert(pool, add_row) -> None:
    clock = FakeClock()
    down = WebhookSink()  # not started: connections are refused
    a = alerter(pool, down.url, clock, interval=30)
    row = await add_row(event(5), status=RetryStatus.DEAD)
    assert await a.check_dead() == 0
    assert await pool.fetchval("SELECT alerted_at FROM retry_queue WHERE id=$1", row.id) is None

    async with WebhookSink(status=500, port=down.port):
        clock.now += 30
        assert await a.check_dead() == 0
    async with WebhookSink(port=down.port) as up:
        clock.now += 30
        assert await a.check_dead() == 1
        assert f"row {row.id} " in up.texts[0]


async def test_without_a_webhook_alerts_are_logged(pool, add_row) -> None:
    await add_row(event(6), status=RetryStatus.DEAD)
    assert await alerter(pool, None, FakeClock()).check_dead() == 1


def test_slack_markup_is_escaped() -> None:
    assert slack_escape("<!channel> & <http://x|y>") == "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"


async def test_service_alerts_when_a_row_goes_dead(
    pool, add_row, sink, retry_settings: Settings
) -> None:
    settings = retry_settings.model_copy(update={"alert_webhook_url": sink.url})
    # Two leads share the phone the event names: no retry can choose between them.
    await pool.execute(
        "INSERT INTO leads (airtable_record_id, phone) VALUES ('recTwin1', '4085550003'), "
        "('recTwin2', '408.555.0003')"
    )
    await add_row(event(7, leadPhone="4085550003", leadAirtableId=None))
    async with running(functools.partial(run_retry, settings)):
        await wait_for(lambda: _dead_alert(sink), timeout=15, message="the dead-row alert")
    text = _dead_alert_text(sink)
    assert "phone +14085550003 matches 2 leads (recTwin1, recTwin2)" in text
    assert "gave up after 3 attempts" in text


async def _dead_alert(sink: WebhookSink) -> bool:
    return _dead_alert_text(sink) is not None


def _dead_alert_text(sink: WebhookSink) -> str | None:
    return next((t for t in sink.texts if "went dead" in t), None)
