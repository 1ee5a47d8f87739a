"""Fixtures of the n8n template tests: one real n8n per module, and per test the API key,
the alert sink emptied and the database path restored."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import asyncpg
import pytest
import pytest_asyncio
from n8n_support import (
    INSTALL_SCRIPT,
    N8N_BIN,
    N8N_VERSION,
    N8nConfig,
    N8nHarness,
    credential_role,
    n8n_installed,
    running_n8n,
)

from activitylog.access.keys import Role, generate_key, hash_key, key_prefix
from activitylog.runtime.settings import Settings
from activitylog.storage import api_keys
from activitylog_testing.ports import free_port
from faults.webhook_sink import WebhookSink
from tcp_proxy import TcpProxy

if TYPE_CHECKING:
    from conftest import Infra


@pytest.fixture(scope="session")
def n8n_binary() -> Path:
    """The pinned n8n, installed into the cache if it is missing (once; a few minutes)."""
    if not n8n_installed():
        result = subprocess.run(
            ["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0 or not n8n_installed():
            reason = (
                f"n8n {N8N_VERSION} could not be installed into {N8N_BIN.parent.parent.parent} "
                f"by {INSTALL_SCRIPT.name}: {result.stderr.strip()[-500:]}"
            )
            if os.environ.get("CI"):
                pytest.fail(reason)
            pytest.skip(reason)
    return N8N_BIN


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def n8n_harness(
    n8n_binary: Path, infra: Infra, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[N8nHarness]:
    events_db = urlsplit(infra.database_url)
    db_path = TcpProxy(events_db.hostname or "127.0.0.1", events_db.port or 5432)
    await db_path.start()
    sink = WebhookSink()
    await sink.start()
    artifacts = Path(
        os.environ.get("TEST_ARTIFACTS", Path(__file__).parent.parent.parent / "test-artifacts")
    )
    artifacts.mkdir(parents=True, exist_ok=True)
    api_port = free_port()
    try:
        async with credential_role(infra.database_url) as (role, password):
            config = N8nConfig(
                admin_url=infra.admin_url,
                api_url=f"http://127.0.0.1:{api_port}",
                alert_url=sink.url,
                api_key=generate_key(),
                events_db=(
                    "127.0.0.1",
                    db_path.port,
                    events_db.path.lstrip("/"),
                    role,
                    password,
                ),
                folder=tmp_path_factory.mktemp("n8n"),
                log_path=artifacts / "n8n.log",
            )
            async with running_n8n(config) as server:
                yield N8nHarness(server, api_port, config.api_key, sink, db_path)
    finally:
        await sink.stop()
        await db_path.cut()


@pytest_asyncio.fixture
async def n8n(n8n_harness: N8nHarness, pool: asyncpg.Pool) -> N8nHarness:
    """The module's n8n with its API key stored (the pool fixture empties every table) and
    nothing left over from the previous test."""
    async with pool.acquire() as conn:
        await api_keys.create(
            conn,
            name="n8n",
            role=str(Role.INGEST),
            client_id=None,
            key_hash=hash_key(n8n_harness.api_key),
            key_prefix=key_prefix(n8n_harness.api_key),
        )
    n8n_harness.sink.received.clear()
    await n8n_harness.db_path.restore()
    return n8n_harness


@pytest.fixture
def n8n_settings(settings: Settings, n8n_harness: N8nHarness) -> Settings:
    """The test's settings with the API on the port n8n's workflows post to."""
    return settings.model_copy(
        update={
            "api_port": n8n_harness.api_port,
            "retry_backoff_initial_s": 0.05,
            "retry_backoff_max_s": 0.2,
            "retry_poll_interval_s": 0.1,
        }
    )
