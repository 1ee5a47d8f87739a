"""Fixtures of the n8n template tests: one real n8n per module, and per test the API key,
the alert sink emptied and the database path restored."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
import pytest_asyncio
from n8n_support import (
    INSTALL_SCRIPT,
    N8N_BIN,
    N8N_VERSION,
    N8nHarness,
    n8n_installed,
    n8n_log,
)
from n8n_support import n8n_harness as n8n_harness_for

from activitylog.runtime.settings import Settings
from activitylog.storage import api_keys
from activitylog.use_cases.access.keys import Role, hash_key, key_prefix

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
    """The module's n8n, with the retry_queue fallback's credential (a module may override
    this fixture to run without it)."""
    async with n8n_harness_for(
        infra.admin_url,
        infra.database_url,
        tmp_path_factory.mktemp("n8n"),
        n8n_log("n8n.log"),
        fallback=True,
    ) as harness:
        yield harness


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
