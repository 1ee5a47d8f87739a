"""Admin accounts: argon2 password hashes, sign-in throttled per client address and account."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from functools import cache

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from activitylog.runtime.settings import Settings
from activitylog.storage import admin_users, login_throttle

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so that a wrong email costs as long as a
    wrong password and response times do not reveal which accounts exist."""
    return _hasher.hash("not a real password")


MIN_PASSWORD_LENGTH = 10


class WeakPassword(ValueError):
    """The password does not meet the minimum rules."""


# An email is at most 254 characters; anything longer is cut so a key stays small.
_MAX_EMAIL = 320


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """Sign-in attempts allowed within `window_s` before further ones wait (429)."""

    per_account_and_address: int
    per_address: int
    per_account: int
    window_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginLimits:
        return cls(
            per_account_and_address=settings.login_max_failures,
            per_address=settings.login_max_attempts_per_address,
            per_account=settings.login_max_attempts_per_account,
            window_s=settings.login_lockout_s,
        )


@dataclass(frozen=True, slots=True)
class SignIn:
    """The outcome of a sign-in attempt: a user id, or how long to wait before the next."""

    user_id: int | None = None
    email: str | None = None
    retry_after_s: int | None = None

    @property
    def ok(self) -> bool:
        return self.user_id is not None


def _account_key(email: str) -> str:
    return f"account {email.strip().lower()[:_MAX_EMAIL]}"


def _account_from_key(email: str, address: str) -> str:
    return f"{_account_key(email)} from {address}"


def _keys(email: str, address: str, limits: LoginLimits) -> dict[str, int]:
    """The throttle keys of one attempt with their limits, the same whether or not the
    account exists."""
    return {
        f"address {address}": limits.per_address,
        _account_from_key(email, address): limits.per_account_and_address,
        _account_key(email): limits.per_account,
    }


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
    async with conn.transaction():
        _, created = await admin_users.upsert(conn, email, password_hash)
        # A new password also lifts the account's throttle (the address's stays).
        await login_throttle.forget(conn, [_account_key(email)])
        await login_throttle.forget_prefixed(conn, _account_from_key(email, ""))
    return created


async def sign_in(
    conn: asyncpg.Connection, email: str, password: str, *, address: str, limits: LoginLimits
) -> SignIn:
    """Check the credentials sent from client `address`, unless that address or the account
    has tried too often lately.

    Unknown, disabled and wrong-password accounts take the same work and give the same
    answer, so neither the outcome nor its time tells which accounts exist.
    """
    keys = _keys(email, address, limits)
    wait_s = await login_throttle.seconds_blocked(conn, list(keys))
    if wait_s is None:
        # Counted before the password is checked, so that attempts sent in parallel cannot
        # all slip in under the limit.
        for key, limit in keys.items():
            over_s = await login_throttle.count_attempt(conn, key, limit, limits.window_s)
            if over_s is not None:
                wait_s = max(wait_s or 0.0, over_s)
    if wait_s is not None:
        return SignIn(retry_after_s=max(1, math.ceil(wait_s)))
    user = await admin_users.by_email(conn, email.strip())
    # argon2 takes tens of milliseconds of CPU: keep it off the event loop.
    good = await asyncio.to_thread(
        _verify, user.password_hash if user is not None else _dummy_hash(), password
    )
    await login_throttle.delete_expired(conn)
    if user is None or user.disabled or not good:
        return SignIn()
    if _hasher.check_needs_rehash(user.password_hash):
        new_hash = await asyncio.to_thread(_hasher.hash, password)
        await admin_users.set_password_hash(conn, user.id, new_hash)
    await admin_users.record_success(conn, user.id)
    # The person typing has proved who they are: their typos from this address are forgiven.
    await login_throttle.forget(conn, [_account_from_key(email, address)])
    return SignIn(user_id=user.id, email=user.email)
