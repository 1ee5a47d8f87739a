"""Keyset pages: a read fetches `limit + 1` rows; the extra one only says more follow."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from activitylog.domain.reads.cursor import encode_cursor

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """At most `limit` rows; `position` is the keyset position of the last one when more follow."""

    rows: list[T]
    has_more: bool
    position: Sequence[Any] | None = None

    def next_cursor(self, kind: str) -> str | None:
        """The cursor that continues after this page (None on the last page)."""
        return encode_cursor(kind, self.position) if self.position is not None else None


def keyset_page(
    fetched: Sequence[T],
    limit: int,
    position: Callable[[T], Sequence[Any]] | None = None,
) -> Page[T]:
    """The page in `fetched` (read with `limit + 1`); `position` gives a row's sort values."""
    rows = list(fetched[:limit])
    has_more = len(fetched) > limit
    last = position(rows[-1]) if has_more and position is not None else None
    return Page(rows, has_more, last)
