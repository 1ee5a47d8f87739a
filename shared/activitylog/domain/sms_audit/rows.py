"""One `SMS_Audit` row as either source gives it: an Airtable CSV export or the portal table."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from activitylog.domain.airtable import normalise_header

# A cell time: export text in the base's display format, or a timestamptz from the portal.
CellTime = str | datetime | None

# Export column (normalised) → field; some bases call the message id "SMS Campaign ID".
_CSV_COLUMNS = {
    "record_id": "record_id",
    "airtable_record_id": "record_id",
    "event": "event",
    "campaign_id": "campaign_id",
    "sms_campaign_id": "campaign_id",
    "phone": "phone",
    "status": "status",
    "carrier": "carrier",
    "lead_record_id": "lead",
    "text": "text",
    "sent_at": "sent_at",
    "delivery_at": "delivery_at",
    "webhook_raw": "webhook_raw",
    "clicked": "clicked",
    "clicked_at": "clicked_at",
}
_REQUIRED = ("campaign_id", "phone", "status", "lead")
# Airtable writes a ticked checkbox as `checked`; other exports as true/1/yes.
_TICKED = {"checked", "true", "1", "yes", "x", "✓"}

PORTAL_COLUMNS = (
    "airtable_record_id",
    "sms_campaign_id",
    "phone",
    "lead_record_id",
    "event",
    "text",
    "status",
    "carrier",
    "sent_at",
    "delivery_at",
    "clicked",
    "clicked_at",
    "webhook_raw",
)


class SourceFormatError(ValueError):
    """The input is not an SMS_Audit export: a column every row needs is missing."""


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One row; `where` names it in reports (CSV line or record id)."""

    where: str
    record_id: str | None
    event: str
    campaign_id: str
    phone: str
    status: str
    carrier: str
    lead: str
    text: str
    sent_at: CellTime
    delivery_at: CellTime
    clicked: bool
    clicked_at: CellTime
    webhook_raw: str


def _text(value: Any) -> str:
    # An export keeps CRLF inside quoted multi-line cells; the log stores plain newlines.
    return "" if value is None else str(value).replace("\r\n", "\n").strip()


def _time(value: Any) -> CellTime:
    if isinstance(value, datetime):
        return value
    text = _text(value)
    return text or None


def _ticked(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return _text(value).lower() in _TICKED


def _row(where: str, values: Mapping[str, Any]) -> AuditRow:
    record_id = _text(values.get("record_id")) or None
    return AuditRow(
        where=where,
        record_id=record_id,
        event=_text(values.get("event")),
        campaign_id=_text(values.get("campaign_id")),
        phone=_text(values.get("phone")),
        status=_text(values.get("status")),
        carrier=_text(values.get("carrier")),
        lead=_text(values.get("lead")),
        text=_text(values.get("text")),
        sent_at=_time(values.get("sent_at")),
        delivery_at=_time(values.get("delivery_at")),
        clicked=_ticked(values.get("clicked")),
        clicked_at=_time(values.get("clicked_at")),
        webhook_raw=_text(values.get("webhook_raw")),
    )


def read_csv(lines: Iterable[str]) -> Iterator[AuditRow]:
    """Rows of an Airtable CSV export, read as they come (open the file with newline="").

    BOM, CRLF line ends and quoted multi-line cells are the csv module's and the header's
    business; raises SourceFormatError before the first row if a needed column is missing.
    """
    reader = csv.reader(iter(lines))
    header = next(reader, None)
    if header is None:
        raise SourceFormatError("the file is empty; an SMS_Audit export starts with its header")
    fields = [_CSV_COLUMNS.get(normalise_header(name)) for name in header]
    missing = [name for name in _REQUIRED if name not in fields]
    if missing:
        raise SourceFormatError(
            f"missing column(s) {', '.join(missing)}; an SMS_Audit export has Event, "
            "Campaign ID (or SMS Campaign ID), Phone, Status, Carrier, Lead Record ID, Text, "
            "Sent At, Delivery At, Webhook Raw, Clicked and Clicked At"
        )
    line = reader.line_num + 1
    for cells in reader:
        where, line = f"line {line}", reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue  # a blank line between records is no row
        yield _row(where, {f: c for f, c in zip(fields, cells, strict=False) if f is not None})


def from_portal(record: Mapping[str, Any]) -> AuditRow:
    """A row of the portal's `sms_audit` table (its columns: PORTAL_COLUMNS)."""
    record_id = _text(record.get("airtable_record_id"))
    values = {**record, "record_id": record_id, "campaign_id": record.get("sms_campaign_id")}
    values["lead"] = record.get("lead_record_id")
    return _row(record_id or "portal row", values)
