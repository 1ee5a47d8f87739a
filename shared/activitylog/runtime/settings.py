"""The one settings object; every value comes from an environment variable (see README)."""

from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from activitylog.contract.shards import shard_keys


class Settings(BaseSettings):
    """Configuration of every service; field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # Connections. Empty means "start the embedded server" under `activitylog up`.
    database_url: str | None = None
    redis_url: str | None = None
    # A Redis Cluster: its nodes as "host:port,host:port" (or REDIS_URL=redis+cluster://…).
    redis_cluster_nodes: str = ""
    # With replicas: XADD is followed by WAIT for this many replicas (0: not waited for),
    # at most REDIS_WAIT_TIMEOUT_MS; an event not on enough replicas is stored directly.
    redis_wait_replicas: int = Field(default=0, ge=0)
    redis_wait_timeout_ms: int = Field(default=500, ge=1)
    data_dir: Path = Path("data")
    embedded_redis_port: int = 6380

    # Stream and ingest.
    activity_stream: str = "activity:events"
    # The stream as N hash-tagged keys (contract.shards), each leased to one worker at a time.
    activity_stream_shards: int = Field(default=1, ge=1, le=1024)
    ingest_group: str = "ingest"
    ingest_consumer: str = Field(default_factory=socket.gethostname)
    ingest_batch_size: int = Field(default=500, ge=1, le=10_000)
    ingest_max_deliveries: int = Field(default=5, ge=1)
    ingest_block_ms: int = Field(default=2_000, ge=10)
    claim_idle_ms: int = Field(default=60_000, ge=100)
    stream_trim_interval_s: float = Field(default=30.0, gt=0)
    backoff_initial_s: float = Field(default=0.2, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    pending_retry_delay_s: float = Field(default=60.0, ge=0)
    # Short, so that a name held by a process that died is free again within seconds.
    consumer_lease_ttl_s: float = Field(default=5.0, gt=0)
    # Fault injection for the fault tests: an entry containing this text kills the worker.

    # The log's partitions and retention (docs/RUNBOOK.md §18). RETENTION_MONTHS unset keeps
    # everything; set, it keeps the current month and the N−1 before it, archiving what
    # expires to ARCHIVE_URL (file:///path or s3://bucket/prefix) before dropping it.
    retention_months: int | None = Field(default=None, ge=1)
    archive_url: str | None = None
    partitions_ahead: int = Field(default=3, ge=1, le=24)
    partitions_interval_s: float = Field(default=3_600.0, gt=0)
    # A month brought back by `archive restore` stays this long before retention takes it.
    restore_hold_days: float = Field(default=7.0, ge=0)

    # Retry service.
    retry_max_attempts: int = Field(default=10, ge=1)
    retry_poll_interval_s: float = Field(default=5.0, gt=0)
    retry_batch_size: int = Field(default=100, ge=1)
    # Back-off between attempts of one row: initial·2ⁿ capped, with jitter (the lead sync
    # runs every 5 minutes, so the first retries come soon and later ones spread out).
    retry_backoff_initial_s: float = Field(default=30.0, gt=0)
    retry_backoff_max_s: float = Field(default=3_600.0, gt=0)
    alert_timeout_s: float = Field(default=5.0, gt=0)
    alert_webhook_url: str | None = None
    alert_pending_threshold: int = Field(default=20, ge=0)
    alert_min_interval_s: float = Field(default=300.0, ge=0)

    # API.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    session_secure_cookie: bool = False
    # Admin UI: session lifetime (renewed on use) and sign-in throttling (README, "Admin UI").
    # Within a window of LOGIN_LOCKOUT_S only failures count: LOGIN_MAX_FAILURES_PER_ADDRESS
    # from one address, LOGIN_MAX_FAILURES of one account from one address (or from one
    # known device), then they wait (429). Each failure of an account makes an unknown device
    # wait longer before its next try at it: LOGIN_DELAY_S, doubling, up to
    # LOGIN_MAX_DELAY_S. A device that signed in before (a signed cookie, kept
    # LOGIN_DEVICE_DAYS) is throttled by its own failures only.
    session_max_age_s: int = Field(default=43_200, ge=60)
    login_max_failures: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=20, ge=1)
    login_delay_s: float = Field(default=1.0, ge=0)
    login_max_delay_s: float = Field(default=300.0, ge=0)
    login_lockout_s: float = Field(default=300.0, ge=0)
    login_device_days: int = Field(default=90, ge=1)
    # `activitylog api` processes sharing the port (uvicorn's supervisor when above 1).
    api_workers: int = Field(default=1, ge=1, le=64)
    # How long a verified API key is trusted before it is checked again (revocation delay).
    api_key_cache_s: float = Field(default=5.0, ge=0)
    # While PostgreSQL is down, a key verified (or created) within this many seconds is still
    # accepted from the copy in Redis, by any replica (a revocation replaces that copy).
    api_key_offline_s: float = Field(default=86_400.0, ge=0)
    # How long an Idempotency-Key is remembered with the body it was first sent with.
    api_idempotency_ttl_s: float = Field(default=86_400.0, gt=0)
    # Timeout for each PostgreSQL/Redis call of the ingest endpoint and the health checks.
    api_backend_timeout_s: float = Field(default=2.0, gt=0)
    # Retry-After (seconds) sent with every 503: a backend the request needs is unavailable.
    api_retry_after_s: int = Field(default=5, ge=1)
    # The api's PostgreSQL time limits, so an unreachable or hung database costs a request
    # seconds (then a 503), not minutes: connecting, waiting for a pooled connection (which
    # may include connecting), and one statement.
    api_db_connect_timeout_s: float = Field(default=5.0, gt=0)
    api_db_acquire_timeout_s: float = Field(default=5.0, gt=0)
    api_db_statement_timeout_s: float = Field(default=10.0, gt=0)
    # The admin browser counts exactly up to this many rows, then reports an estimate.
    api_count_cap: int = Field(default=10_000, ge=100)
    # ... and gives a count this long (ms) before it reports the estimate instead.
    api_count_budget_ms: int = Field(default=30, ge=1)
    # A search page slower than this (ms) is planned again to read through the text index.
    api_search_budget_ms: int = Field(default=150, ge=1)
    # The admin UI links an n8n event to its execution under this URL (e.g.
    # https://n8n.example.com); empty, no link is shown.
    n8n_base_url: str = ""
    # Counters: how often the retry service compacts them (any replica; they take turns).
    counters_compact_interval_s: float = Field(default=300.0, gt=0)
    # Counters and analytics follow the log: how often the retry service looks for rows
    # stored since its last step (any replica; they take turns), when it has caught up.
    counters_follow_interval_s: float = Field(default=0.25, gt=0)
    analytics_keep_interval_s: float = Field(default=0.5, gt=0)
    # Expected sources (`activitylog watch`): how often the retry service checks the rules;
    # a catch-all rule for every source no rule names (0: none); a source's last full hour
    # below this fraction of the same hour's median over 4 weeks is a rate drop (0: off),
    # judged only where that median reaches WATCH_RATE_MIN_BASELINE events.
    watch_interval_s: float = Field(default=30.0, gt=0)
    watch_default_max_silence_s: float = Field(default=0.0, ge=0)
    watch_rate_min_fraction: float = Field(default=0.25, ge=0, le=1)
    watch_rate_min_baseline: int = Field(default=20, ge=1)
    # Health: degraded above these.
    health_max_retry_queue: int = Field(default=20, ge=0)
    health_max_stream_lag: int = Field(default=1_000, ge=0)
    health_max_stream_age_s: float = Field(default=60.0, gt=0)
    # ... and when the counters or the analytics trail the log by more than this.
    health_max_follow_lag_s: float = Field(default=60.0, gt=0)

    # Lead sync (`activitylog leads sync`): the portal's database, its leads table, and
    # column names where they differ from the portal's, as "field=column,…".
    portal_database_url: str | None = None
    lead_sync_table: str = "leads"
    lead_sync_columns: str = ""

    # Reads on a streaming replica (docs/SCALING.md). Empty: every read is on the primary.
    # The read routes use it while it is at most DATABASE_READ_MAX_LAG_S behind, checked
    # every DATABASE_READ_CHECK_S, each check and each connection to it bounded by
    # DATABASE_READ_TIMEOUT_S; otherwise, and whenever it cannot serve, the primary.
    database_read_url: str | None = None
    database_read_max_lag_s: float = Field(default=5.0, gt=0)
    database_read_check_s: float = Field(default=1.0, gt=0)
    database_read_timeout_s: float = Field(default=1.0, gt=0)

    # Operations.
    database_pool_min: int = Field(default=1, ge=0)
    database_pool_max: int = Field(default=10, ge=1)
    metrics_port: int = Field(default=0, ge=0, le=65535)
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "console"

    @model_validator(mode="after")
    def _cluster_url(self) -> Settings:
        # REDIS_CLUSTER_NODES is another spelling of a `redis+cluster://` REDIS_URL.
        if not self.redis_url and self.redis_cluster_nodes:
            self.redis_url = f"redis+cluster://{self.redis_cluster_nodes}"
        return self

    def servers(self) -> tuple[str, str]:
        """DATABASE_URL and REDIS_URL, which every service needs; a clear error if unset."""
        if not self.database_url or not self.redis_url:
            raise RuntimeError("DATABASE_URL and REDIS_URL must be set (or use `activitylog up`)")
        return self.database_url, self.redis_url

    def stream_keys(self) -> list[str]:
        """The stream's keys, one a shard (just ACTIVITY_STREAM with one shard)."""
        return shard_keys(self.activity_stream, self.activity_stream_shards)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the environment once per process."""
    return Settings()
