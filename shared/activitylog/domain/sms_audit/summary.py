"""What a backfill did: rows read, events per type, duplicates, skips by reason, time span."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from activitylog.contract.times import iso
from activitylog.domain.sms_audit.facts import FACT_TYPES, PlannedEvent, Skip


@dataclass(slots=True)
class BackfillSummary:
    """Counts as a run goes; `written` is what a dry run would write."""

    dry_run: bool = False
    rows_read: int = 0
    events: int = 0  # events the rows hold, before duplicates
    written: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0  # already in the log, or the same fact twice in the source
    refused: int = 0  # to the retry queue: a lead UUID that does not exist (yet)
    skipped: Counter[str] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None

    def saw(self, events: list[PlannedEvent], skips: list[Skip]) -> None:
        """Account for one batch's mapping (before anything is stored)."""
        self.events += len(events)
        self.skipped.update(s.reason.value for s in skips)
        if events:
            times = [e.accepted.timestamp for e in events]
            low, high = min(times), max(times)
            self.first = low if self.first is None else min(self.first, low)
            self.last = high if self.last is None else max(self.last, high)

    @property
    def total_written(self) -> int:
        return sum(self.written.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "rowsRead": self.rows_read,
            "events": self.events,
            "written": {t.value: self.written.get(t.value, 0) for t in FACT_TYPES},
            "duplicates": self.duplicates,
            "refused": self.refused,
            "skipped": dict(sorted(self.skipped.items())),
            "from": iso(self.first),
            "to": iso(self.last),
        }

    def lines(self) -> list[str]:
        """The summary as the terminal shows it."""
        verb = "would write" if self.dry_run else "written"
        width = max(len(t.value) for t in FACT_TYPES)
        out = [f"rows read        {self.rows_read:>12,}", f"events in rows   {self.events:>12,}"]
        out.append(f"events {verb:<11}{self.total_written:>11,}")
        out += [f"  {t.value:<{width}} {self.written.get(t.value, 0):>12,}" for t in FACT_TYPES]
        out.append(f"duplicates       {self.duplicates:>12,}  (already in the log or repeated)")
        if self.refused:
            out.append(f"to retry queue   {self.refused:>12,}  (lead UUID not found)")
        out.append(f"skipped          {sum(self.skipped.values()):>12,}")
        out += [f"  {reason:<{width}} {n:>12,}" for reason, n in sorted(self.skipped.items())]
        span = f"{iso(self.first)} … {iso(self.last)}" if self.first else "no events"
        out.append(f"time span        {span}")
        return out
