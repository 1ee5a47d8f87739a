"""The one CSV writer of every CSV the system hands out (the activity export, the analytics
CSVs, the backfill's skipped rows): formula cells neutralised (OWASP, "CSV Injection").

A spreadsheet runs a cell as a formula when its text starts with `=`, `+`, `-` or `@`, and
Excel and LibreOffice also when only blanks or line breaks come first (` =1+1`, `\\n=cmd`),
and some read the full-width forms (`＝`) alike; a leading tab or carriage return can start
one too. Such a text cell is written with a `'` in front, which spreadsheets show as text.
Numbers are written as numbers: a number is never a formula, and `-3` stays a number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any, Protocol

# What may start a formula, once leading blanks and line breaks are passed over.
_FORMULA_START = frozenset("=+-@＝＋－＠")
# What may start one on its own (OWASP: tab, carriage return; line feed likewise).
_CONTROL_START = frozenset("\t\r\n")


def safe_cell(value: Any) -> str:
    """A cell's text: numbers as they are, None as empty, any other text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if not text:
        return ""
    if text[0] in _CONTROL_START:
        return "'" + text
    first = text.lstrip()[:1]
    if first and first in _FORMULA_START:
        return "'" + text
    return text


def safe_row(cells: Iterable[Any]) -> list[str]:
    return [safe_cell(c) for c in cells]


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


class SafeWriter:
    """`csv.writer` whose every cell goes through `safe_cell`."""

    def __init__(self, handle: _Writable, *, lineterminator: str = "\r\n") -> None:
        self._writer = csv.writer(handle, lineterminator=lineterminator)

    def writerow(self, cells: Iterable[Any]) -> None:
        self._writer.writerow(safe_row(cells))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        self._writer.writerows(safe_row(r) for r in rows)


def encode_rows(rows: Iterable[Iterable[Any]]) -> bytes:
    """Rows as CSV text (CRLF, as RFC 4180), UTF-8, every cell neutralised."""
    buffer = io.StringIO()
    SafeWriter(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8")
