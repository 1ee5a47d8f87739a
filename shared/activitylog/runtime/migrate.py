"""Applies the versioned SQL files in `migrations/` once each, safely from many replicas."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

# Any constant works; it only has to be the same for every replica.
_LOCK_KEY = 0x1EAD_AC71

_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


class MigrationChanged(RuntimeError):
    """An applied migration file differs from what was applied: the schema is not what the
    code expects, and migrating again would not fix it."""

    def __init__(self, changed: list[Migration]) -> None:
        self.changed = changed
        names = ", ".join(f"{m.version:04d}_{m.name}.sql" for m in changed)
        super().__init__(
            f"applied migration file(s) changed since they were applied: {names}. "
            "A migration is never edited once released; restore the file as it was and put "
            "the change in a new migration with the next version number."
        )


def available() -> list[Migration]:
    """The migration files shipped with the package, in version order."""
    found: list[Migration] = []
    for entry in resources.files("activitylog.runtime.migrations").iterdir():
        match = _FILE_RE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migration files share a version: {versions}")
    return found


async def applied_checksums(conn: asyncpg.Connection) -> dict[int, str | None]:
    """Applied versions and the checksum recorded for each (None: applied before checksums)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    has_checksum = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns "
        "WHERE table_name = 'schema_migrations' AND column_name = 'checksum')"
    )
    column = "checksum" if has_checksum else "NULL::text AS checksum"
    rows = await conn.fetch(f"SELECT version, {column} FROM schema_migrations")
    return {r["version"]: r["checksum"] for r in rows}


def changed_files(applied: dict[int, str | None]) -> list[Migration]:
    """Shipped files whose text differs from the one applied (unrecorded ones pass)."""
    return [
        m
        for m in available()
        if applied.get(m.version) is not None and applied[m.version] != m.checksum
    ]


async def migrate(dsn: str) -> list[Migration]:
    """Apply what is missing and return it; concurrent callers wait on an advisory lock."""
    conn = await asyncpg.connect(dsn)
    try:
        # Session lock: the first replica migrates, the others wait here and then find
        # nothing left to do.
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    integer PRIMARY KEY,
                    name       text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                );
                ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text;
                """
            )
            done = await applied_checksums(conn)
            changed = changed_files(done)
            if changed:
                raise MigrationChanged(changed)
            # Versions applied before checksums were kept: record the files as they are now.
            unrecorded = [m for m in available() if m.version in done and done[m.version] is None]
            for migration in unrecorded:
                await conn.execute(
                    "UPDATE schema_migrations SET checksum = $2 WHERE version = $1",
                    migration.version,
                    migration.checksum,
                )
            newly: list[Migration] = []
            for migration in available():
                if migration.version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) "
                        "VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
                newly.append(migration)
            return newly
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()


async def pending(dsn: str) -> list[Migration]:
    """Migrations not yet applied (readiness checks use this); MigrationChanged if one was
    edited after it was applied."""
    conn = await asyncpg.connect(dsn)
    try:
        done = await applied_checksums(conn)
    finally:
        await conn.close()
    changed = changed_files(done)
    if changed:
        raise MigrationChanged(changed)
    return [m for m in available() if m.version not in done]
