"""`activitylog users …`: accounts made from the command line, passwords hashed with argon2."""

from __future__ import annotations

import subprocess

from activitylog.runtime.settings import Settings
from activitylog.use_cases.access.accounts import LoginLimits, sign_in
from support import run_cli


def users(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_cli(settings, "users", *args, stdin=stdin)


async def check(pool, email: str, password: str) -> bool:
    async with pool.acquire() as conn:
        result = await sign_in(
            conn, email, password, address="127.0.0.1", limits=LoginLimits(100, 100, 0, 0, 0)
        )
    return result.ok


async def test_create_list_reset_and_disable(settings: Settings, pool) -> None:
    made = users(
        settings,
        "create",
        "--email",
        "Ana@Example.com",
        "--password-stdin",
        stdin="first-pass-123\n",
    )
    assert made.returncode == 0, made.stderr
    assert "created admin user Ana@Example.com" in made.stdout
    stored = await pool.fetchval("SELECT password_hash FROM admin_users")
    assert stored.startswith("$argon2id$")
    assert "first-pass-123" not in stored
    assert await check(pool, "ana@example.com", "first-pass-123")  # emails ignore case

    # Running it again sets a new password (and unlocks): the old one stops working.
    again = users(settings, "create", "--email", "ana@example.com", stdin="second-pass-456\n")
    assert again.returncode == 0, again.stderr
    assert "updated" in again.stdout
    assert await pool.fetchval("SELECT count(*) FROM admin_users") == 1
    assert not await check(pool, "ana@example.com", "first-pass-123")
    assert await check(pool, "ana@example.com", "second-pass-456")

    listed = users(settings, "list")
    assert "Ana@Example.com\tactive" in listed.stdout

    disabled = users(settings, "disable", "--email", "ana@example.com")
    assert disabled.returncode == 0, disabled.stderr
    assert not await check(pool, "ana@example.com", "second-pass-456")
    assert "disabled" in users(settings, "list").stdout


async def test_a_short_password_or_a_bad_email_is_refused(settings: Settings, pool) -> None:
    short = users(settings, "create", "--email", "bo@example.com", stdin="short\n")
    assert short.returncode != 0
    assert "at least 10 characters" in short.stderr
    not_email = users(settings, "create", "--email", "bo", stdin="long-enough-password\n")
    assert not_email.returncode != 0
    assert "not an email address" in not_email.stderr
    assert await pool.fetchval("SELECT count(*) FROM admin_users") == 0
