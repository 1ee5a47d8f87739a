"""SQL for the portal's own `leads` table (another database, read only), with its table and
column names configurable; the defaults are the portal's."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

import asyncpg

from activitylog.storage.lead_sync_state import Mark

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def quote_identifier(name: str) -> str:
    """`name` (optionally schema-qualified) as a quoted SQL identifier; ValueError if odd."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 2 or not all(_IDENTIFIER.match(p) for p in parts):
        raise ValueError(f"{name!r} is not a table or column name")
    return ".".join(f'"{p}"' for p in parts)


@dataclass(frozen=True, slots=True)
class PortalTable:
    """Where the portal keeps its leads; a column set to "" is not read."""

    table: str = "leads"
    id: str = "id"
    airtable_id: str = "airtable_record_id"
    client_id: str = "client_id"
    first_name: str = "first_name"
    last_name: str = "last_name"
    email: str = "email"
    phone: str = "phone"
    status: str = "status"
    updated_at: str = "updated_at"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value or f.name in ("table", "id"):
                quote_identifier(value)  # fails early, naming the bad name

    def _select(self) -> str:
        wanted = [
            f.name
            for f in fields(self)
            if f.name not in ("table", "updated_at") and getattr(self, f.name)
        ]
        cols = [f"{quote_identifier(getattr(self, n))}::text AS {n}" for n in wanted]
        if self.updated_at:
            cols.append(f"{quote_identifier(self.updated_at)} AS updated_at")
        return ", ".join(cols)

    def _after(self, mark: Mark | None, first: int) -> tuple[str, list[Any]]:
        """The WHERE … ORDER BY of rows after `mark`, with parameters from `$first`."""
        ident = f"{quote_identifier(self.id)}::text"
        if not self.updated_at:
            if mark is None:
                return f"ORDER BY {ident}", []
            return f"WHERE {ident} > ${first} ORDER BY {ident}", [mark.id]
        stamp = quote_identifier(self.updated_at)
        order = f"ORDER BY {stamp}, {ident}"
        if mark is None:
            return f"WHERE {stamp} IS NOT NULL {order}", []
        where = f"WHERE ({stamp}, {ident}) > (${first}, ${first + 1})"
        return f"{where} {order}", [mark.updated_at, mark.id]

    async def count_after(self, conn: asyncpg.Connection, mark: Mark | None) -> int:
        """How many rows come after `mark` (for the progress bar)."""
        tail, values = self._after(mark, 1)
        order_at = tail.find("ORDER BY")
        where = tail[:order_at]
        sql = f"SELECT count(*) FROM {quote_identifier(self.table)} {where}"
        return int(await conn.fetchval(sql, *values))

    async def read_after(
        self, conn: asyncpg.Connection, mark: Mark | None, limit: int
    ) -> list[asyncpg.Record]:
        """The next `limit` rows after `mark`, every column as text but updated_at."""
        tail, values = self._after(mark, 2)
        sql = f"SELECT {self._select()} FROM {quote_identifier(self.table)} {tail} LIMIT $1"
        return await conn.fetch(sql, limit, *values)
