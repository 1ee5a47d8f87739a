"""Admin accounts: argon2 password hashes, sign-in with lock-out after repeated failures."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from activitylog.storage import admin_users

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so that a wrong email costs as long as a
    wrong password and response times do not reveal which accounts exist."""
    return _hasher.hash("not a real password")


MIN_PASSWORD_LENGTH = 10


class WeakPassword(ValueError):
    """The password does not meet the minimum rules."""


@dataclass(frozen=True, slots=True)
class SignIn:
    """The outcome of a sign-in attempt: a user id, or why not."""

    user_id: int | None = None
    email: str | None = None
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.user_id is not None


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def create_or_reset(conn: asyncpg.Connection, email: str, password: str) -> bool:
    """Create the account or set its new password; True when it was created."""
    email = email.strip()
    if "@" not in email:
        raise ValueError(f"not an email address: {email!r}")
    password_hash = await asyncio.to_thread(hash_password, password)
    _, created = await admin_users.upsert(conn, email, password_hash)
    return created


async def sign_in(
    conn: asyncpg.Connection, email: str, password: str, *, max_failures: int, lockout_s: float
) -> SignIn:
    """Check the credentials; a locked account is refused without looking at the password."""
    user = await admin_users.by_email(conn, email.strip())
    if user is None:
        await asyncio.to_thread(_verify, _dummy_hash(), password)
        return SignIn()
    now = datetime.now(UTC)
    if user.locked_until is not None and user.locked_until > now:
        return SignIn(locked_until=user.locked_until)
    # argon2 takes tens of milliseconds of CPU: keep it off the event loop.
    good = await asyncio.to_thread(_verify, user.password_hash, password)
    if user.disabled or not good:
        locked = await admin_users.record_failure(conn, user.id, max_failures, lockout_s)
        return SignIn(locked_until=locked)
    if _hasher.check_needs_rehash(user.password_hash):
        new_hash = await asyncio.to_thread(_hasher.hash, password)
        await admin_users.set_password_hash(conn, user.id, new_hash)
    await admin_users.record_success(conn, user.id)
    return SignIn(user_id=user.id, email=user.email)
