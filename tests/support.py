"""Helpers for tests: worker processes with a test's settings, event bodies.
What benchmarks share too (polling, services in-process, ports) is in activitylog_testing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import redis as redis_sync
import redis.asyncio as aioredis

from activitylog.runtime.migrate import available
from activitylog.runtime.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that reproduce `settings` in a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    for name, value in settings.model_dump().items():
        if value is None:
            env.pop(name.upper(), None)
            continue
        env[name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def spawn(
    args: list[str], settings: Settings, *, log_path: Path | None = None, **extra_env: str
) -> subprocess.Popen[bytes]:
    """Start `python -m activitylog_cli ARGS` with the settings in its environment."""
    env = settings_env(settings) | extra_env
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "activitylog_cli", *args],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )


def run_cli(
    settings: Settings, *args: str, stdin: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python -m activitylog_cli ARGS` to completion with the settings' environment."""
    return subprocess.run(
        [sys.executable, "-m", "activitylog_cli", *args],
        input=stdin,
        env=settings_env(settings),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float = 15.0) -> int:
    """SIGTERM, wait, SIGKILL if it does not stop; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def event(n: int = 0, **overrides: Any) -> dict[str, Any]:
    """A valid event body in the n8n style (camelCase)."""
    body: dict[str, Any] = {
        "eventType": "MESSAGE_SENT",
        "leadAirtableId": f"recLead{n % 50:05d}",
        "description": f"SMS {n} sent to lead",
        "messageContent": f"Hello there, this is message number {n}",
        "metadata": {"campaign_id": "camp1", "phone": "+15550001111", "n": n},
        "source": "n8n:wf-sms",
        "executionId": f"exec-{n}",
        "timestamp": f"2026-03-01T10:{(n // 60) % 60:02d}:{n % 60:02d}.{n % 1000:03d}Z",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def dumps(body: Any) -> bytes:
    return orjson.dumps(body)


async def at_version(url: str, last: int) -> None:
    """The schema as migrations up to `last` left it (what an installation has today)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now(), checksum text)"
        )
        for m in available():
            if m.version <= last:
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    m.version,
                    m.name,
                    m.checksum,
                )
    finally:
        await conn.close()


async def count_rows(pool: asyncpg.Pool) -> int:
    """Rows in the log."""
    return int(await pool.fetchval("SELECT count(*) FROM lead_activity_log"))


async def pending_count(redis: aioredis.Redis, settings: Settings) -> int:
    """Entries the ingest group has read and not acknowledged."""
    summary = await redis.xpending(settings.activity_stream, settings.ingest_group)
    return int(summary["pending"])


def publish_raw(settings: Settings, payloads: list[bytes]) -> None:
    """A plain redis-py client, as any producer would use it (no project code)."""
    client = redis_sync.Redis.from_url(settings.redis_url or "")
    try:
        pipe = client.pipeline(transaction=False)
        for payload in payloads:
            pipe.xadd(settings.activity_stream, {"payload": payload})
        pipe.execute()
    finally:
        client.close()


async def pending_at_least(redis: aioredis.Redis, settings: Settings, n: int) -> bool:
    """At least `n` entries read and not acknowledged (False while the group is missing)."""
    try:
        return await pending_count(redis, settings) >= n
    except aioredis.ResponseError:
        return False  # the group does not exist yet
