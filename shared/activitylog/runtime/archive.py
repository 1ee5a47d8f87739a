"""The log's archive: Parquet files (zstd) under ARCHIVE_URL, a directory (file:///…) or
S3-compatible storage (s3://bucket/prefix), through fsspec. One directory per month,
`lead_activity_log/month=YYYY-MM/`, readable as it is (DuckDB: README, "Archive")."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from activitylog.domain.partitions import month_label

_TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        ("timestamp", _TS),
        ("created_at", _TS),
        ("tx", pa.int64()),
        ("position", pa.int64()),
        ("id", pa.string()),
        ("lead_id", pa.string()),
        ("client_id", pa.string()),
        ("created_by", pa.string()),
        ("event_type", pa.string()),
        ("event_category", pa.string()),
        ("source", pa.string()),
        ("lead_airtable_id", pa.string()),
        ("execution_id", pa.string()),
        ("description", pa.string()),
        ("message_content", pa.string()),
        ("metadata", pa.string()),
    ]
)


def _fs(url: str) -> tuple[Any, str]:
    fs, root = fsspec.core.url_to_fs(url)
    return fs, root.rstrip("/")


def month_dir(root: str, month: date) -> str:
    return f"{root}/lead_activity_log/month={month_label(month)}"


@dataclass(frozen=True, slots=True)
class WrittenFile:
    path: str  # within the archive's filesystem
    rows: int  # as read back from the file
    bytes: int


def archived_ids(url: str, month: date) -> pa.Array:
    """The ids already in `month`'s files: rows archived by an earlier run (a restored
    month, late events, a run cut short after its file) are not written twice."""
    fs, root = _fs(url)
    paths = _files(fs, month_dir(root, month))
    if not paths:
        return pa.array([], pa.string())
    tables = [pq.read_table(p, columns=["id"], filesystem=fs) for p in paths]
    return pa.concat_arrays([t.column("id").combine_chunks() for t in tables])


def _files(fs: Any, directory: str) -> list[str]:
    if not fs.exists(directory):
        return []
    return sorted(p for p in fs.ls(directory, detail=False) if str(p).endswith(".parquet"))


class MonthWriter:
    """Writes the rows of one piece of a month to a temporary file, then names it by its
    content (the hash of its ids): a run repeated after a crash writes the same file."""

    def __init__(self, url: str, month: date, kind: str, already: pa.Array) -> None:
        self.fs, root = _fs(url)
        self.directory = month_dir(root, month)
        self.kind = kind
        self.already = already
        self.fs.makedirs(self.directory, exist_ok=True)
        # Not .parquet: a reader's glob skips a file left by a crash.
        self.temp = f"{self.directory}/.writing-{uuid.uuid4().hex}"
        self._file = self.fs.open(self.temp, "wb")
        self._writer = pq.ParquetWriter(self._file, SCHEMA, compression="zstd")
        self._hash = hashlib.sha256()
        self.written = 0
        self.skipped = 0

    def add(self, records: Sequence[Any]) -> None:
        """Add rows (in SCHEMA's column order, ids ascending), leaving out archived ones."""
        table = pa.Table.from_pylist(
            [dict(zip(SCHEMA.names, r, strict=True)) for r in records], SCHEMA
        )
        if len(self.already):
            keep = pc.invert(pc.is_in(table.column("id"), value_set=self.already))
            before = table.num_rows
            table = table.filter(keep)
            self.skipped += before - table.num_rows
        if table.num_rows:
            self._writer.write_table(table)
            for i in table.column("id").to_pylist():
                self._hash.update(i.encode())
            self.written += table.num_rows

    def finish(self) -> WrittenFile | None:
        """Close, verify the row count read back from the file, and give it its name; None
        (and no file) when every row was archived already."""
        self._writer.close()
        self._file.close()
        if not self.written:
            self.fs.rm(self.temp)
            return None
        path = f"{self.directory}/{self.kind}-{self._hash.hexdigest()[:20]}.parquet"
        self.fs.mv(self.temp, path)
        rows = pq.read_metadata(path, filesystem=self.fs).num_rows
        if rows != self.written:
            raise RuntimeError(f"{path} reads back {rows} rows, {self.written} were written")
        return WrittenFile(path, rows, int(self.fs.size(path)))

    def abort(self) -> None:
        try:
            self._writer.close()
            self._file.close()
        finally:
            if self.fs.exists(self.temp):
                self.fs.rm(self.temp)


def month_files(url: str, month: date | None = None) -> list[WrittenFile]:
    """The archive's files (of one month, or all), with their row counts."""
    fs, root = _fs(url)
    base = f"{root}/lead_activity_log"
    if month is not None:
        directories = [month_dir(root, month)]
    elif fs.exists(base):
        directories = sorted(fs.ls(base, detail=False))
    else:
        directories = []
    return [
        WrittenFile(p, pq.read_metadata(p, filesystem=fs).num_rows, int(fs.size(p)))
        for d in directories
        for p in _files(fs, d)
    ]


def read_month(url: str, month: date, batch: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
    """`month`'s archived rows, `batch` at a time, as tuples in SCHEMA's column order."""
    fs, root = _fs(url)
    for path in _files(fs, month_dir(root, month)):
        with fs.open(path, "rb") as f:
            for chunk in pq.ParquetFile(f).iter_batches(batch_size=batch, columns=SCHEMA.names):
                columns = [chunk.column(n).to_pylist() for n in SCHEMA.names]
                yield list(zip(*columns, strict=True))
