"""The old table against the log, per day and event type: which messages each side lacks.

Both sides become sightings (type, time, message id, phone, lead). A sighting matches one
on the other side with the same type and message id (SMS_Audit's Campaign ID, the log's
`metadata.messageId`), wherever in the period it falls: an event logged a minute after
midnight still matches a send Airtable stamped a minute before. Only a sighting without a
message id falls back to its phone and lead, paired in time order. Sightings up to `slack`
outside the period take part in matching only.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from activitylog.contract.references import phone_key
from activitylog.contract.times import iso
from activitylog.domain.csv_safe import SafeWriter
from activitylog.domain.sms_audit.facts import FACT_TYPES, PlannedEvent

# Sightings this far outside the period still match (a send at 23:59, logged at 00:01).
SLACK = timedelta(hours=1)
AIRTABLE = "airtable"
LOG = "log"


@dataclass(frozen=True, slots=True)
class Sighting:
    """One SMS fact as one side records it."""

    event_type: str
    at: datetime
    message_id: str
    phone: str
    lead: str

    @property
    def key(self) -> tuple[str, ...]:
        if self.message_id:
            return (self.event_type, self.message_id)
        return (self.event_type, "", phone_key(self.phone), self.lead)

    def as_json(self) -> dict[str, str | None]:
        return {
            "eventType": self.event_type,
            "at": iso(self.at),
            "messageId": self.message_id,
            "phone": self.phone,
            "lead": self.lead,
        }


@dataclass(slots=True)
class DayRow:
    day: date
    event_type: str
    airtable: int = 0
    log: int = 0
    missing_in_log: int = 0
    missing_in_airtable: int = 0

    @property
    def gap(self) -> bool:
        return bool(self.missing_in_log or self.missing_in_airtable)


@dataclass(frozen=True, slots=True)
class Period:
    """Whole days `first`…`last` in `tz`."""

    first: date
    last: date
    tz: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), self.tz)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), self.tz)

    def day_of(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()


@dataclass(slots=True)
class Report:
    period: Period
    rows: list[DayRow] = field(default_factory=list)
    missing_in_log: list[Sighting] = field(default_factory=list)
    missing_in_airtable: list[Sighting] = field(default_factory=list)

    @property
    def unmatched(self) -> int:
        return len(self.missing_in_log) + len(self.missing_in_airtable)

    def totals(self) -> DayRow:
        total = DayRow(self.period.last, "total")
        for r in self.rows:
            total.airtable += r.airtable
            total.log += r.log
            total.missing_in_log += r.missing_in_log
            total.missing_in_airtable += r.missing_in_airtable
        return total

    def within(self, tolerance: float, *, percent: bool = False) -> bool:
        """The difference is at most `tolerance` events (or percent of Airtable's)."""
        if percent:
            base = self.totals().airtable
            return self.unmatched <= base * tolerance / 100
        return self.unmatched <= tolerance

    def as_json(self) -> dict[str, Any]:
        def row(r: DayRow) -> dict[str, Any]:
            return {
                "day": r.day.isoformat() if r.event_type != "total" else None,
                "eventType": r.event_type,
                "airtable": r.airtable,
                "log": r.log,
                "missingInLog": r.missing_in_log,
                "missingInAirtable": r.missing_in_airtable,
            }

        return {
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "tz": self.period.tz.key,
            "days": [row(r) for r in self.rows],
            "totals": row(self.totals()),
            "unmatched": self.unmatched,
            "missingInLog": [s.as_json() for s in self.missing_in_log],
            "missingInAirtable": [s.as_json() for s in self.missing_in_airtable],
        }

    def table(self) -> list[str]:
        """The per-day table with its totals, as the terminal shows it."""
        head = (
            f"{'day':<10}  {'event type':<17} {'airtable':>9} {'log':>9} "
            f"{'missing':>8} {'extra':>8}"
        )
        out = [head, "-" * len(head)]
        for r in [*self.rows, self.totals()]:
            if r.event_type == "total":
                out.append("-" * len(head))
            day = "total" if r.event_type == "total" else r.day.isoformat()
            kind = "" if r.event_type == "total" else r.event_type
            mark = "  <- gap" if r.gap and r.event_type != "total" else ""
            out.append(
                f"{day:<10}  {kind:<17} {r.airtable:>9,} {r.log:>9,} {r.missing_in_log:>8,} "
                f"{r.missing_in_airtable:>8,}{mark}"
            )
        return out

    def to_csv(self) -> str:
        """Every day row, the totals and every unmatched message, in one CSV."""
        out = io.StringIO()
        writer = SafeWriter(out, lineterminator="\n")
        writer.writerow(["section", "day", "event_type", "airtable", "log", "missing_in_log",
                         "missing_in_airtable", "at", "message_id", "phone", "lead"])  # fmt: skip
        for r in self.rows:
            writer.writerow(["day", r.day.isoformat(), r.event_type, r.airtable, r.log,
                             r.missing_in_log, r.missing_in_airtable, "", "", "", ""])  # fmt: skip
        t = self.totals()
        writer.writerow(["total", "", "", t.airtable, t.log, t.missing_in_log,
                         t.missing_in_airtable, "", "", "", ""])  # fmt: skip
        for section, items in (
            ("missing_in_log", self.missing_in_log),
            ("missing_in_airtable", self.missing_in_airtable),
        ):
            for s in items:
                day = self.period.day_of(s.at).isoformat()
                writer.writerow([section, day, s.event_type, "", "", "", "", iso(s.at),
                                 s.message_id, s.phone, s.lead])  # fmt: skip
        return out.getvalue()


def compare(
    airtable: Iterable[Sighting],
    log: Iterable[Sighting],
    period: Period,
    *,
    slack: timedelta = SLACK,
) -> Report:
    """Match the two sides and count each day of `period`; see the module's docstring."""
    low, high = period.start - slack, period.end + slack
    sides: dict[str, dict[tuple[str, ...], list[Sighting]]] = {
        AIRTABLE: defaultdict(list),
        LOG: defaultdict(list),
    }
    for name, sightings in ((AIRTABLE, airtable), (LOG, log)):
        for s in sightings:
            if low <= s.at < high:
                sides[name][s.key].append(s)

    counts: dict[tuple[date, str], DayRow] = {}

    def cell(s: Sighting) -> DayRow | None:
        if not period.start <= s.at < period.end:
            return None
        day = period.day_of(s.at)
        if (day, s.event_type) not in counts:
            counts[(day, s.event_type)] = DayRow(day, s.event_type)
        return counts[(day, s.event_type)]

    report = Report(period)
    for key in sides[AIRTABLE].keys() | sides[LOG].keys():
        old = sorted(sides[AIRTABLE].get(key, []), key=lambda s: s.at)
        new = sorted(sides[LOG].get(key, []), key=lambda s: s.at)
        for s in old:
            if (c := cell(s)) is not None:
                c.airtable += 1
        for s in new:
            if (c := cell(s)) is not None:
                c.log += 1
        # Pair in time order; what is left over on a side is missing on the other.
        for s in old[len(new) :]:
            if (c := cell(s)) is not None:
                c.missing_in_log += 1
                report.missing_in_log.append(s)
        for s in new[len(old) :]:
            if (c := cell(s)) is not None:
                c.missing_in_airtable += 1
                report.missing_in_airtable.append(s)
    order = {t.value: i for i, t in enumerate(FACT_TYPES)}
    report.rows = sorted(counts.values(), key=lambda r: (r.day, order.get(r.event_type, 99)))
    report.missing_in_log.sort(key=lambda s: (s.at, s.key))
    report.missing_in_airtable.sort(key=lambda s: (s.at, s.key))
    return report


def airtable_sighting(event: PlannedEvent) -> Sighting:
    """A fact found in the old table, as reconcile sees it."""
    m = event.message
    return Sighting(event.event_type.value, event.accepted.timestamp, m.message_id, m.phone, m.lead)
