"""SMS_Audit test data: an export written the way Airtable writes it, and the portal's table.

One row per kind of fact and rows that must be skipped; EXPECTED says what they become.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from activitylog.domain.airtable import parse_time

HEADER = ["Event", "Campaign ID", "Phone", "Status", "Carrier", "Lead Record ID", "Text",
          "Sent At", "Delivery At", "Webhook Raw", "Clicked", "Clicked At"]  # fmt: skip

_WEBHOOK = '{\r\n  "type": "delivery_report",\r\n  "carrier": "Verizon",\r\n  "ok": true\r\n}'

# (record id, Event, Campaign ID, Phone, Status, Carrier, Lead, Text, Sent At, Delivery At,
#  Webhook Raw, Clicked, Clicked At), times in the base's display format or ISO.
ROWS: list[tuple[str, ...]] = [
    # Sent, delivered in place, then clicked: three facts. Text and Webhook Raw span lines.
    ("recSms0001", "SMS Sent", "st-1001", "+1 (555) 000-1001", "Clicked", "Verizon", "recLead0001",
     "Hi Sam,\nyour roof quote is ready: https://x.example/q", "11/7/2025 3:04pm",
     "11/7/2025 3:05pm", _WEBHOOK, "checked", "2025-11-07T15:30:00.000Z"),
    # Sent (ISO time), delivered.
    ("recSms0002", "SMS Sent", "st-1002", "+1 555 000 1002", "Delivered", "AT&T", "recLead0002",
     "Reminder, \"tomorrow\" at 9, reply YES", "2025-11-08T09:00:00.000Z", "11/8/2025 9:01am",
     "", "", ""),
    # Sent, then undelivered: a send and a failed delivery.
    ("recSms0003", "SMS Sent", "st-1003", "5550001003", "Undelivered", "T-Mobile", "recLead0003",
     "Your estimate", "11/8/2025 10:00am", "11/8/2025 10:02am", "", "", ""),
    # The send itself failed: one MESSAGE_FAILED at Sent At.
    ("recSms0004", "SMS Sent", "st-1004", "+15550001004", "Failed", "", "recLead0004",
     "Spring offer", "11/8/2025 11:00am", "", "", "", ""),
    # The production scheduler's row (Event "Sent", 10 digits); its delivery comes in a row
    # of the delivery workflow's own, whose lead lookup failed (Lead Record ID blank).
    ("recSms0005", "Sent", "st-1005", "5550001005", "Sent", "", "recLead0005",
     "Call us back", "11/9/2025 10:00am", "", "", "", ""),
    ("recSms0006", "Delivery", "st-1005", "5550001005", "Delivered", "T-Mobile",
     "", "", "", "11/9/2025 10:02am", '{"messageId":"st-1005","carrier":"T-Mobile"}', "", ""),
    # A "Delivery Update" row for st-1002, whose delivery its own row already holds.
    ("recSms0007", "Delivery Update", "st-1002", "+15550001002", "Delivered", "AT&T",
     "recLead0002", "", "", "11/8/2025 9:01am", "", "", ""),
    # Skipped: no lead nor phone; a lead that is a name, not a record id; an unknown status;
    # no time.
    ("recSms0008", "SMS Sent", "", "", "Sent", "", "", "x",
     "11/9/2025 11:00am", "", "", "", ""),
    ("recSms0009", "SMS Sent", "st-1009", "+15550001009", "Sent", "", "Sam Smith", "x",
     "11/9/2025 11:00am", "", "", "", ""),
    ("recSms0010", "SMS Sent", "st-1010", "+15550001010", "Queued", "", "recLead0010", "x",
     "11/9/2025 11:00am", "", "", "", ""),
    ("recSms0011", "SMS Sent", "st-1011", "+15550001011", "Sent", "", "recLead0011", "x",
     "", "", "", "", ""),
    # Sent, "Delivered" without Delivery At: the send is stored, the delivery skipped.
    ("recSms0012", "SMS Sent", "st-1012", "+15550001012", "Delivered", "Verizon", "recLead0012",
     "Last one", "11/9/2025 4:15pm", "", "", "", ""),
]  # fmt: skip

EXPECTED = {"MESSAGE_SENT": 5, "MESSAGE_DELIVERED": 3, "MESSAGE_FAILED": 2, "LINK_CLICKED": 1}
EXPECTED_SKIPPED = {"no lead": 2, "no time": 2, "unknown status": 1}
EXPECTED_DUPLICATES = 1  # st-1002's delivery, in its row and in a Delivery Update row
# A row only the portal has.
PORTAL_ONLY = ("recSms0013", "SMS Sent", "st-1013", "+15550001013", "Sent", "", "recLead0013",
               "Portal only", "11/9/2025 5:00pm", "", "", "", "")  # fmt: skip


def airtable_csv(rows: list[tuple[str, ...]] = ROWS) -> bytes:
    """The rows as Airtable exports them: BOM, CRLF, quoted multi-line cells, no record id."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow(row[1:])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def _portal_time(text: str) -> datetime | None:
    return parse_time(text) if text else None


def portal_record(row: tuple[str, ...]) -> dict[str, Any]:
    """A row as the portal's table holds it: record id, timestamptz, a boolean checkbox."""
    (record_id, event, campaign, phone, status, carrier, lead, text, sent, delivered, raw,
     clicked, clicked_at) = row  # fmt: skip
    return {
        "airtable_record_id": record_id,
        "sms_campaign_id": campaign,
        # The portal keeps phones as E.164; the export as the base displays them.
        "phone": "+1" + "".join(c for c in phone if c.isdigit())[-10:] if phone else None,
        "lead_record_id": lead or None,
        "event": event,
        "text": text or None,
        "status": status,
        "carrier": carrier or None,
        "sent_at": _portal_time(sent),
        "delivery_at": _portal_time(delivered),
        "clicked": clicked == "checked",
        "clicked_at": _portal_time(clicked_at),
        "webhook_raw": raw or None,
    }


PORTAL_TABLE = """
CREATE TABLE sms_audit (
    airtable_record_id text PRIMARY KEY,
    sms_campaign_id    text,
    phone              text,
    lead_record_id     text,
    event              text,
    text               text,
    status             text,
    carrier            text,
    sent_at            timestamptz,
    delivery_at        timestamptz,
    clicked            boolean NOT NULL DEFAULT false,
    clicked_at         timestamptz,
    webhook_raw        text
)
"""


async def fill_portal(dsn: str, rows: list[tuple[str, ...]]) -> None:
    """Create the portal's `sms_audit` table in database `dsn` and insert `rows`."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(PORTAL_TABLE)
        records = [portal_record(r) for r in rows]
        columns = list(records[0])
        await conn.copy_records_to_table(
            "sms_audit", records=[tuple(r.values()) for r in records], columns=columns
        )
    finally:
        await conn.close()


def sends_on(day: datetime, n: int, prefix: str) -> list[tuple[str, ...]]:
    """`n` plain sends on `day` (UTC), a few minutes apart, each to its own lead."""
    rows = []
    for i in range(n):
        at = (day + timedelta(hours=9, minutes=7 * i)).strftime("%m/%d/%Y %I:%M%p")
        lead, phone = f"recLead{prefix}{i:03d}", f"+1555{day.day:03d}{i:04d}"
        rows.append((f"rec{prefix}{i:04d}", "SMS Sent", f"{prefix}-{i}", phone, "Sent", "", lead,
                     "Hello", at, "", "", "", ""))  # fmt: skip
    return rows


def log_payload(row: tuple[str, ...], campaign: str = "spring-roofs") -> dict[str, Any]:
    """The event the SMS scheduler template wrote for a send during the dual-write period:
    SMS_Audit's Campaign ID is the message id, the campaign is a campaign."""
    sent = parse_time(row[8])
    return {
        "eventType": "MESSAGE_SENT",
        "leadAirtableId": row[6],
        "description": "SMS sent",
        "messageContent": row[7],
        "metadata": {
            "provider": "simpletexting",
            "messageId": row[2],
            "campaignId": campaign,
            "phone": row[3],
        },
        "source": "n8n:wf-sms",
        "timestamp": sent.astimezone(UTC).isoformat(),
    }
