"""SQL for the `admin_users` table (people who log in to the admin UI)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class AdminUser:
    """One admin account; `password_hash` is an argon2 (or bcrypt) hash string."""

    id: int
    email: str
    password_hash: str
    disabled: bool
    last_login_at: datetime | None
    time_zone: str = "UTC"  # IANA name; the UI's date presets and day groups use it


# failed_logins and locked_until are no longer read: sign-ins are throttled in login_throttle.
_COLUMNS = "id, email, password_hash, disabled, last_login_at, time_zone"


def _user(row: asyncpg.Record | None) -> AdminUser | None:
    return AdminUser(**dict(row)) if row is not None else None


async def upsert(conn: asyncpg.Connection, email: str, password_hash: str) -> tuple[int, bool]:
    """Create the account, or set a new password on an existing one (also re-enables it).

    Returns (id, created).
    """
    row = await conn.fetchrow(
        """
        INSERT INTO admin_users (email, password_hash) VALUES ($1, $2)
        ON CONFLICT ((lower(email))) DO UPDATE
        SET password_hash = EXCLUDED.password_hash, disabled = false, updated_at = now()
        RETURNING id, (xmax = 0) AS created
        """,
        email,
        password_hash,
    )
    assert row is not None
    return int(row["id"]), bool(row["created"])


async def by_email(conn: asyncpg.Connection, email: str) -> AdminUser | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM admin_users WHERE lower(email) = lower($1)", email
    )
    return _user(row)


async def by_id(conn: asyncpg.Connection, user_id: int) -> AdminUser | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM admin_users WHERE id = $1", user_id)
    return _user(row)


async def list_all(conn: asyncpg.Connection) -> list[AdminUser]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM admin_users ORDER BY lower(email)")
    return [AdminUser(**dict(r)) for r in rows]


async def set_disabled(conn: asyncpg.Connection, email: str, disabled: bool) -> bool:
    """Disable or re-enable an account; False when there is no such account."""
    result = await conn.execute(
        "UPDATE admin_users SET disabled = $2, updated_at = now() WHERE lower(email) = lower($1)",
        email,
        disabled,
    )
    return result.endswith(" 1")


async def record_success(conn: asyncpg.Connection, user_id: int) -> None:
    await conn.execute(
        "UPDATE admin_users SET last_login_at = now(), updated_at = now() WHERE id = $1", user_id
    )


async def set_password_hash(conn: asyncpg.Connection, user_id: int, password_hash: str) -> None:
    """Store a re-hashed password (argon2 parameters upgraded since the last login)."""
    await conn.execute(
        "UPDATE admin_users SET password_hash = $2, updated_at = now() WHERE id = $1",
        user_id,
        password_hash,
    )


async def set_time_zone(conn: asyncpg.Connection, user_id: int, time_zone: str) -> None:
    """Store the admin's time zone (an IANA name the caller has checked)."""
    await conn.execute(
        "UPDATE admin_users SET time_zone = $2, updated_at = now() WHERE id = $1",
        user_id,
        time_zone,
    )
