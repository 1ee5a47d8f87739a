"""What a committed batch did, as metrics and log lines (counted only once it is durable)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar

from activitylog.contract.identity import AcceptedEvent
from activitylog.domain.dead_letters import DeadLetter
from activitylog.runtime import metrics
from activitylog.runtime.logs import get_logger
from activitylog.use_cases.store_batch import StoreResult

log = get_logger("activitylog.stream")

StoredListener = Callable[[Sequence[AcceptedEvent], Sequence[DeadLetter], StoreResult], None]
# Told of each batch once it is committed and reported (the ingest's wiring sets it around
# its worker: use_cases.live announces what was stored to the API). A context variable, so
# workers of several streams in one process each tell their own.
_after_commit: ContextVar[StoredListener | None] = ContextVar("after_commit", default=None)


@contextlib.contextmanager
def announcing(listener: StoredListener) -> Iterator[None]:
    """Within the block (and the tasks it starts), `listener` hears of each stored batch."""
    token = _after_commit.set(listener)
    try:
        yield
    finally:
        _after_commit.reset(token)


def record_stored(
    path: str,
    ids: list[str],
    accepted: list[AcceptedEvent],
    letters: list[DeadLetter],
    result: StoreResult,
    seconds: float,
) -> None:
    """Metrics, a warning per dead letter, and one info line with counts per batch.

    The ids go on a debug line: at full speed an info line listing every id of every batch
    (about 40 KB each) would flood any log pipeline, and the database traces an event too.
    """
    metrics.BATCH_SIZE.labels(path).observe(len(ids))
    metrics.COMMIT_SECONDS.labels(path).observe(seconds)
    metrics.EVENTS_STORED.labels(path).inc(len(result.inserted))
    metrics.EVENTS_DUPLICATE.labels(path).inc(len(result.duplicates))
    for letter in [*letters, *result.refused]:
        metrics.DEAD_LETTERED.labels(path, letter.status.value).inc()
        log.warning(
            "entry sent to retry_queue",
            stream_id=letter.queue_id,
            lead=letter.lead_id,
            status=letter.status.value,
            reason=letter.reason,
        )
    log.info(
        "batch stored",
        entries=len(ids),
        inserted=len(result.inserted),
        duplicates=len(result.duplicates),
        dead_letters=len(letters),
        refused=len(result.refused),
        first_id=ids[0],
        last_id=ids[-1],
        commit_ms=round(seconds * 1000, 1),
    )
    log.debug(
        "batch ids",
        stream_ids=ids,
        event_ids=[str(a.id) for a in accepted],
        lead_ids=sorted({ref for a in accepted if (ref := a.lead_reference)}),
    )
    listener = _after_commit.get()
    if listener is not None:
        try:
            listener(accepted, letters, result)
        except Exception as exc:  # telling others never fails a stored batch
            log.warning("after-commit listener failed", error=repr(exc))
