"""Where SMS_Audit rows come from: an Airtable CSV export or the portal's PostgreSQL table."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from itertools import islice
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from activitylog.domain.sms_audit.rows import AuditRow, from_portal, read_csv
from activitylog.runtime.db import connect
from activitylog.storage import portal_sms_audit

Progress = Callable[[int], None]


class _CountingReader(io.RawIOBase):
    """A binary file that reports the bytes read, so progress follows the file's size."""

    def __init__(self, raw: BinaryIO, progress: Progress) -> None:
        self._raw, self._progress = raw, progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self._progress(len(data))
        return len(data)


async def csv_chunks(
    path: Path, size: int, progress: Progress = lambda _: None
) -> AsyncIterator[list[AuditRow]]:
    """The export's rows, `size` at a time, read in a thread; `progress` gets bytes read."""
    with path.open("rb") as raw:
        buffered = io.BufferedReader(_CountingReader(raw, progress), 1 << 20)
        # utf-8-sig drops the BOM; newline="" leaves CRLF and quoted line breaks to csv.
        text = io.TextIOWrapper(buffered, encoding="utf-8-sig", newline="")
        rows = read_csv(text)
        # The header is checked before anything else happens.
        first = await asyncio.to_thread(lambda: list(islice(rows, size)))
        chunk = first
        while chunk:
            yield chunk
            chunk = await asyncio.to_thread(lambda: list(islice(rows, size)))


async def portal_total(dsn: str) -> int:
    conn = await connect(dsn)
    try:
        return await portal_sms_audit.count(conn)
    finally:
        await conn.close()


async def portal_chunks(
    dsn: str, size: int, progress: Progress = lambda _: None
) -> AsyncIterator[list[AuditRow]]:
    """The portal table's rows, `size` at a time; `progress` gets rows read."""
    conn = await connect(dsn)
    try:
        async for records in portal_sms_audit.chunks(conn, size):
            progress(len(records))
            yield [from_portal(r) for r in records]
    finally:
        await conn.close()


def describe_dsn(dsn: str) -> str:
    """A DSN fit to record and print: host, port and database, never the password."""
    parts = urlsplit(dsn)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"postgres://{host}{port}{parts.path}"
