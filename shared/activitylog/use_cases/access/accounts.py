"""Admin accounts: argon2 password hashes; sign-in failures throttled per client address, per
account and per known device (a signed cookie)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass
from functools import cache

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from activitylog.runtime.settings import Settings
from activitylog.storage import admin_users, login_throttle, ui_secrets

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
    """How sign-in failures are throttled (README, "Admin UI"); failures count within
    `window_s`, and a key at its limit waits until its window ends (429)."""

    per_account_and_address: int  # failures of one account from one address / known device
    per_address: int  # failures from one address, any accounts
    delay_s: float  # an unknown device's wait after the account's first failure ...
    max_delay_s: float  # ... doubling with each failure of the account, up to this
    window_s: float
    device_days: int = 90  # how long a device cookie is good for

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginLimits:
        return cls(
            per_account_and_address=settings.login_max_failures,
            per_address=settings.login_max_failures_per_address,
            delay_s=settings.login_delay_s,
            max_delay_s=settings.login_max_delay_s,
            window_s=settings.login_lockout_s,
            device_days=settings.login_device_days,
        )

    def delay_after(self, account_failures: int) -> float:
        """How long an unknown device waits before it tries an account again, once that
        account has failed `account_failures` times in the window."""
        if account_failures <= 0 or self.delay_s <= 0:
            return 0.0
        return min(self.max_delay_s, self.delay_s * 2 ** min(account_failures - 1, 40))


@dataclass(frozen=True, slots=True)
class SignIn:
    """The outcome of a sign-in attempt: a user id (and the device cookie to set), or how
    long to wait before the next attempt."""

    user_id: int | None = None
    email: str | None = None
    retry_after_s: int | None = None
    device_cookie: str | None = None

    @property
    def ok(self) -> bool:
        return self.user_id is not None


def _account_key(email: str) -> str:
    return f"account {_email_key(email)}"


def _email_key(email: str) -> str:
    return email.strip().lower()[:_MAX_EMAIL]


def _account_from_key(email: str, address: str) -> str:
    return f"{_account_key(email)} from {address}"


# Known devices (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): a browser
# that signed in to an account gets a cookie naming that account, signed with a secret
# every replica shares (ui_secrets); its attempts at that account count against it alone.
DEVICE_COOKIE = "activitylog_device"
_DEVICE_SECRET = "device"  # noqa: S105 - the ui_secrets row's name, not a secret


def _device_mac(secret: str, email: str, issued: int, nonce: str) -> str:
    message = f"device:{_email_key(email)}:{issued}:{nonce}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def device_cookie(secret: str, email: str, *, now: float | None = None) -> str:
    """A new device cookie's value for a browser that just signed in to `email`."""
    issued = int(time.time() if now is None else now)
    nonce = secrets.token_hex(12)
    return f"{issued}.{nonce}.{_device_mac(secret, email, issued, nonce)}"


def known_device(secret: str, cookie: str | None, email: str, max_age_days: int) -> str | None:
    """The device's id when `cookie` was given to a browser that signed in to `email`
    within `max_age_days`; None for an unknown device."""
    parts = (cookie or "").split(".")
    if len(parts) != 3 or not parts[0].isdigit():
        return None
    issued, nonce, mac = int(parts[0]), parts[1], parts[2]
    if time.time() - issued > max_age_days * 86_400:
        return None
    if not hmac.compare_digest(mac.encode(), _device_mac(secret, email, issued, nonce).encode()):
        return None
    return nonce


async def device_secret(conn: asyncpg.Connection) -> str:
    return await ui_secrets.get_or_create(conn, _DEVICE_SECRET, secrets.token_hex(32))


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
    conn: asyncpg.Connection,
    email: str,
    password: str,
    *,
    address: str,
    limits: LoginLimits,
    device: str | None = None,
) -> SignIn:
    """Check the credentials sent from client `address` (with the device cookie `device`,
    if the browser has one), unless the throttle says to wait.

    A known device (it signed in to this account before) is throttled by its own failures
    only, so nobody else's guessing can lock it out. An unknown device is throttled by the
    failures from its address (any account, and this account) and, once the account has
    failed, must wait a delay that grows with the account's failures between two of its
    own tries at it: the first try from a new address is never refused for the account's
    sake. Only failures count: a success takes its attempt back.

    Unknown, disabled and wrong-password accounts take the same work and give the same
    answer, so neither the outcome nor its time tells which accounts exist.
    """
    secret = await device_secret(conn)
    device_id = known_device(secret, device, email, limits.device_days)
    if device_id is not None:
        counted = [f"device {device_id}"]
        wait_s = await _take_known(conn, counted[0], limits)
    else:
        counted = [f"address {address}", _account_from_key(email, address), _account_key(email)]
        wait_s = await _take_unknown(conn, *counted, limits)
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
    async with conn.transaction():
        # A success does not count against the address or the account, and the person
        # typing has proved who they are: their typos from here are forgiven.
        await login_throttle.uncount(conn, counted)
        await login_throttle.forget(conn, [counted[0]] if device_id else counted[1:2])
    return SignIn(user_id=user.id, email=user.email, device_cookie=device_cookie(secret, email))


async def _take_known(conn: asyncpg.Connection, key: str, limits: LoginLimits) -> float | None:
    """Count an attempt of a known device; the seconds to wait instead when it is at its limit."""
    async with conn.transaction():
        counter = (await login_throttle.lock(conn, [key], limits.window_s))[key]
        if counter.attempts >= limits.per_account_and_address:
            return counter.window_left_s
        await login_throttle.count(conn, [key])
    return None


async def _take_unknown(
    conn: asyncpg.Connection, address: str, pair: str, account: str, limits: LoginLimits
) -> float | None:
    """Count an attempt of an unknown device (before the password is checked, so attempts
    sent at once cannot all slip in under a limit); the seconds to wait instead."""
    async with conn.transaction():
        counters = await login_throttle.lock(conn, [address, pair, account], limits.window_s)
        waits = [counters[pair].blocked_left_s]
        if counters[address].attempts >= limits.per_address:
            waits.append(counters[address].window_left_s)
        if counters[pair].attempts >= limits.per_account_and_address:
            waits.append(counters[pair].window_left_s)
        if max(waits) > 0:
            return max(waits)
        # Should this attempt fail, this device's next try at the account waits longer.
        delay = limits.delay_after(counters[account].attempts + 1)
        await login_throttle.count(
            conn, [address, pair, account], block_s={pair: delay} if delay > 0 else None
        )
    return None
