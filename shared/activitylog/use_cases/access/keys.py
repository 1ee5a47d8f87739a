"""API keys: their roles, how a new one is made and how it is stored (a hash)."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

KEY_PREFIX = "alk_"


class Role(StrEnum):
    INGEST = "ingest"  # may only write events (and the lead sync's lead details)
    PORTAL = "portal"  # reads, scoped to one client
    ADMIN = "admin"  # everything


def generate_key() -> str:
    """A new random key (256 bits); shown once, stored only as a hash."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> bytes:
    """SHA-256: the key is a high-entropy secret, so a slow password hash buys nothing."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def key_prefix(key: str) -> str:
    """The first characters of a key, shown in `keys list` to tell keys apart."""
    return key[: len(KEY_PREFIX) + 8]
