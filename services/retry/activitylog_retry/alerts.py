"""Slack-compatible alerts: rows gone dead and a growing pending backlog, rate-limited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg
import httpx
import orjson

from activitylog.domain.dead_letters import RetryRow
from activitylog.runtime import metrics
from activitylog.runtime.backoff import Backoff
from activitylog.runtime.logs import get_logger
from activitylog.runtime.service_loop import run_loop
from activitylog.storage import retry_queue

log = get_logger("activitylog.retry.alerts")

LISTED_ROWS = 10  # rows named in one dead-letter message; the rest are counted
ANNOUNCED_PER_MESSAGE = 1_000


class Webhook:
    """Posts `{"text": …}`; an unreachable or failing webhook is logged, never raised."""

    def __init__(self, url: str | None, timeout_s: float) -> None:
        self.url = url
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def post(self, kind: str, text: str) -> bool:
        """True once the alert is delivered (or logged, when no webhook is configured)."""
        if not self.url:
            log.warning("alert (ALERT_WEBHOOK_URL not set)", kind=kind, text=text)
            metrics.ALERTS.labels(kind, "logged").inc()
            return True
        try:
            response = await self._client.post(self.url, json={"text": text})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("alert webhook failed", kind=kind, error=repr(exc))
            metrics.ALERTS.labels(kind, "failed").inc()
            return False
        log.info("alert sent", kind=kind)
        metrics.ALERTS.labels(kind, "sent").inc()
        return True

    async def aclose(self) -> None:
        await self._client.aclose()


def slack_escape(text: str) -> str:
    """Slack treats &, < and > as markup; payload text must not become links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _what(row: RetryRow) -> str:
    try:
        data = orjson.loads(row.payload)
    except orjson.JSONDecodeError:
        return "unparseable payload"
    kind = data.get("eventType") or data.get("event_type") if isinstance(data, dict) else None
    return str(kind)[:60] if kind else "event"


def dead_message(rows: list[RetryRow], total: int) -> str:
    """What went dead, for which lead, and why; the first rows listed, the rest counted."""
    lines = [
        f"activitylog: {total} retry_queue row{'s' if total != 1 else ''} went dead "
        "(no more automatic retries). Fix the cause, then `activitylog retry-queue replay ID` "
        "or use /admin/retry-queue."
    ]
    for row in rows[:LISTED_ROWS]:
        reason = (row.last_error or "no reason recorded")[:300]
        lines.append(
            f"• row {row.id} ({row.queue_id}): {_what(row)} for lead {row.lead_id or 'unknown'}"
            f" after {row.retry_count} attempt{'s' if row.retry_count != 1 else ''}: {reason}"
        )
    if total > LISTED_ROWS:
        lines.append(f"… and {total - LISTED_ROWS} more")
    return slack_escape("\n".join(lines))


def pending_message(count: int, threshold: int) -> str:
    return (
        f"activitylog: {count} retry_queue rows are pending (threshold {threshold}). "
        "Events are waiting for a lead or for the database; see /admin/retry-queue."
    )


class Alerter:
    """Announces each dead row once (whichever replica locks it) and a pending backlog."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        webhook: Webhook,
        *,
        pending_threshold: int,
        min_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.webhook = webhook
        self.pending_threshold = pending_threshold
        self.min_interval_s = min_interval_s
        self.clock = clock
        self._last: dict[str, float] = {}

    def _due(self, kind: str) -> bool:
        last = self._last.get(kind)
        return last is None or self.clock() - last >= self.min_interval_s

    async def check_dead(self) -> int:
        """Post one message for the dead rows nobody announced yet; returns how many."""
        if not self._due("dead"):
            return 0
        async with self.pool.acquire() as conn, conn.transaction():
            # The rows stay locked while posting, so two replicas never announce the same row;
            # if the post fails the transaction still marks nothing and they are tried later.
            rows = await retry_queue.lock_unalerted_dead(conn, ANNOUNCED_PER_MESSAGE)
            if not rows:
                return 0
            self._last["dead"] = self.clock()
            if not await self.webhook.post("dead", dead_message(rows, len(rows))):
                return 0
            await retry_queue.mark_alerted(conn, [r.id for r in rows])
        return len(rows)

    async def check_pending(self) -> int:
        """Post when pending rows exceed the threshold; returns the pending count."""
        async with self.pool.acquire() as conn:
            by_status = await retry_queue.count_by_status(conn)
        count = by_status["pending"]
        metrics.RETRY_PENDING.set(count)
        for status, rows in by_status.items():
            metrics.RETRY_ROWS.labels(status).set(rows)
        if count > self.pending_threshold and self._due("pending"):
            self._last["pending"] = self.clock()
            await self.webhook.post("pending", pending_message(count, self.pending_threshold))
        return count

    async def run(self, stop: asyncio.Event, interval_s: float) -> None:
        """Check every `interval_s` until stopped; a final dead-row check runs on the way out."""

        async def step() -> None:
            await self.check_dead()
            await self.check_pending()

        await run_loop(
            step,
            stop=stop,
            backoff=Backoff(interval_s, interval_s),
            job="alerts",
            interval_s=interval_s,
            last_step=True,
        )
