"""Prometheus metrics shared by the services that move events (ingest, retry, api)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

ENTRIES_CONSUMED = Counter(
    "activitylog_stream_entries_consumed", "Stream entries read by this process", ["path"]
)
EVENTS_STORED = Counter("activitylog_events_stored", "Events newly stored in PostgreSQL", ["path"])
EVENTS_DUPLICATE = Counter(
    "activitylog_events_duplicate", "Events already stored (idempotent redelivery)", ["path"]
)
DEAD_LETTERED = Counter(
    "activitylog_events_dead_lettered", "Rows written to retry_queue", ["path", "status"]
)
BATCH_SIZE = Histogram(
    "activitylog_batch_size",
    "Entries per stored batch",
    ["path"],
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
)
COMMIT_SECONDS = Histogram(
    "activitylog_batch_commit_seconds",
    "Time to store one batch in PostgreSQL",
    ["path"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DB_BACKOFFS = Counter(
    "activitylog_database_backoffs", "Times a batch waited for PostgreSQL to come back", ["path"]
)
STEP_FAILURES = Counter(
    "activitylog_consume_step_failures",
    "Consume steps that failed for a reason other than an outage (the loop went on)",
    ["path"],
)
STREAM_LENGTH = Gauge("activitylog_stream_length", "Entries in the activity stream")
STREAM_PENDING = Gauge("activitylog_stream_pending", "Entries delivered but not acknowledged")
STREAM_LAG = Gauge("activitylog_stream_lag", "Entries not yet delivered to the ingest group")
RETRY_ATTEMPTS = Counter(
    "activitylog_retry_attempts", "retry_queue rows attempted, by outcome", ["outcome"]
)
RETRY_PENDING = Gauge("activitylog_retry_queue_pending", "retry_queue rows waiting (pending)")
RETRY_ROWS = Gauge("activitylog_retry_queue_rows", "retry_queue rows by status", ["status"])
ALERTS = Counter(
    "activitylog_alerts", "Alerts raised, by kind and delivery outcome", ["kind", "outcome"]
)


def serve_metrics(port: int) -> None:
    """Expose /metrics on `port` in a background thread; 0 turns it off."""
    if port:
        start_http_server(port)
