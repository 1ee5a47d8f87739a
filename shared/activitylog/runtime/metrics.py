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
ANALYTICS_QUEUE = Gauge(
    "activitylog_analytics_queue_rows", "Stored events the analytics have yet to fold in"
)
FOLLOWER_LAG = Gauge(
    "activitylog_follower_lag_seconds",
    "How far the counters or the analytics trail the log: age of the oldest stored row "
    "the follower has not taken in (0: caught up)",
    ["follower"],
)
FOLLOWER_ROWS = Counter(
    "activitylog_follower_rows",
    "Stored rows a follower (counters, analytics) took in",
    ["follower"],
)
RETRY_PENDING = Gauge("activitylog_retry_queue_pending", "retry_queue rows waiting (pending)")
RETRY_ROWS = Gauge("activitylog_retry_queue_rows", "retry_queue rows by status", ["status"])
ALERTS = Counter(
    "activitylog_alerts", "Alerts raised, by kind and delivery outcome", ["kind", "outcome"]
)
WATCH_SILENT_SOURCES = Gauge(
    "activitylog_watch_silent_sources", "Sources silent past their watch rule's limit", ["rule"]
)
WATCH_SILENCE_SECONDS = Gauge(
    "activitylog_watch_silence_seconds",
    "Longest silence (inside the rule's window) among the sources a watch rule covers",
    ["rule"],
)
SOURCE_EVENTS_PER_SECOND = Gauge(
    "activitylog_source_events_per_second",
    "Events stored per second over the last 5 whole minutes, by source and category "
    "(from the event counters, so every retry replica reports the same value)",
    ["source", "category"],
)
WATCH_RATE_DROPS = Gauge(
    "activitylog_watch_rate_drops",
    "Sources whose last hour fell below their 4-week same-hour median's fraction",
    ["rule"],
)
READ_REPLICA_LAG = Gauge(
    "activitylog_read_replica_lag_seconds",
    "How far the read replica is behind the primary at most (docs/SCALING.md's rule; NaN: "
    "unknown, the replica unreachable)",
)
READS_ON_REPLICA = Gauge(
    "activitylog_reads_on_replica",
    "1 while the read routes go to the replica, 0 while they go to the primary",
)


def serve_metrics(port: int) -> None:
    """Expose /metrics on `port` in a background thread; 0 turns it off."""
    if port:
        start_http_server(port)
