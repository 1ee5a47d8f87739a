"""`activitylog keys create|list|revoke` as an operator runs them, against the running API."""

from __future__ import annotations

import hashlib
import subprocess
import uuid

from activitylog.runtime.settings import Settings
from activitylog_testing.polling import wait_for
from support import run_cli


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(settings, "keys", *args)


async def test_create_use_list_revoke(api, pool) -> None:
    client = uuid.uuid4()
    created = _cli(
        api.settings, "create", "--role", "portal", "--client", str(client), "--name", "portal-acme"
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.rstrip("\n").splitlines()[-1]
    assert key.startswith("alk_")
    assert len(key.split()) == 1
    assert len(key) > 40
    stored = await pool.fetchrow("SELECT * FROM api_keys WHERE name = 'portal-acme'")
    assert stored["key_hash"] == hashlib.sha256(key.encode()).digest()
    assert stored["client_id"] == client
    assert key not in str(dict(stored))

    async with api.client(key) as http:
        response = await http.get("/api/admin/activity-logs")
        assert response.status_code == 200, response.text

    listed = _cli(api.settings, "list")
    assert listed.returncode == 0, listed.stderr
    assert "portal-acme" in listed.stdout
    assert key[:12] in listed.stdout
    assert key not in listed.stdout
    used = await pool.fetchval("SELECT last_used_at FROM api_keys WHERE name = 'portal-acme'")
    assert used is not None

    revoked = _cli(api.settings, "revoke", "portal-acme")
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked portal key" in revoked.stdout

    async def refused() -> bool:
        async with api.client(key) as http:
            return (await http.get("/api/admin/activity-logs")).status_code == 401

    # The API trusts a verified key for API_KEY_CACHE_S (0.2 s in tests), then sees it gone.
    await wait_for(refused, timeout=10, message="the revoked key to be refused")
    assert "portal-acme" not in _cli(api.settings, "list").stdout
    assert "portal-acme" in _cli(api.settings, "list", "--all").stdout
    again = _cli(api.settings, "revoke", "portal-acme")
    assert again.returncode != 0
    assert "no active key" in again.stderr


async def test_create_refuses_inconsistent_scope(api) -> None:
    portal = _cli(api.settings, "create", "--role", "portal", "--name", "x")
    assert portal.returncode == 2
    assert "--client" in portal.stderr
    admin = _cli(
        api.settings, "create", "--role", "admin", "--client", str(uuid.uuid4()), "--name", "x"
    )
    assert admin.returncode == 2
    wrong = _cli(api.settings, "create", "--role", "root", "--name", "x")
    assert wrong.returncode == 2
