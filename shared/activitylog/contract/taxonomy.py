"""Event types, their categories, human labels and the UI's colour and icon per category."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Category(StrEnum):
    SMS = "SMS"
    CAMPAIGN = "CAMPAIGN"
    BOOKING = "BOOKING"
    MANUAL = "MANUAL"
    CONVERSATION = "CONVERSATION"
    SYSTEM = "SYSTEM"


class EventType(StrEnum):
    MESSAGE_SENT = "MESSAGE_SENT"
    MESSAGE_FAILED = "MESSAGE_FAILED"
    MESSAGE_DELIVERED = "MESSAGE_DELIVERED"
    INBOUND_REPLY = "INBOUND_REPLY"
    LINK_CLICKED = "LINK_CLICKED"
    OPT_OUT = "OPT_OUT"
    CAMPAIGN_ENROLLED = "CAMPAIGN_ENROLLED"
    CAMPAIGN_REMOVED = "CAMPAIGN_REMOVED"
    CAMPAIGN_COMPLETED = "CAMPAIGN_COMPLETED"
    BOOKING_CONFIRMED = "BOOKING_CONFIRMED"
    BOOKING_CANCELLED = "BOOKING_CANCELLED"
    BOOKING_RESCHEDULED = "BOOKING_RESCHEDULED"
    STATUS_CHANGED = "STATUS_CHANGED"
    NOTE_ADDED = "NOTE_ADDED"
    LEAD_CLAIMED = "LEAD_CLAIMED"
    AI_RESPONSE_SENT = "AI_RESPONSE_SENT"
    QUALIFYING_QUESTION_ASKED = "QUALIFYING_QUESTION_ASKED"
    QUALIFYING_ANSWER_CAPTURED = "QUALIFYING_ANSWER_CAPTURED"
    NURTURE_SCHEDULED = "NURTURE_SCHEDULED"
    CIRCUIT_BREAKER_TRIGGERED = "CIRCUIT_BREAKER_TRIGGERED"
    CONVERSATION_ESCALATED = "CONVERSATION_ESCALATED"
    ENRICHMENT_COMPLETED = "ENRICHMENT_COMPLETED"
    ICP_SCORE_UPDATED = "ICP_SCORE_UPDATED"
    BULK_IMPORT = "BULK_IMPORT"


_TYPES_BY_CATEGORY: dict[Category, tuple[tuple[EventType, str], ...]] = {
    Category.SMS: (
        (EventType.MESSAGE_SENT, "Message Sent"),
        (EventType.MESSAGE_FAILED, "Message Failed"),
        (EventType.MESSAGE_DELIVERED, "Message Delivered"),
        (EventType.INBOUND_REPLY, "Inbound Reply"),
        (EventType.LINK_CLICKED, "Link Clicked"),
        (EventType.OPT_OUT, "Opt-Out"),
    ),
    Category.CAMPAIGN: (
        (EventType.CAMPAIGN_ENROLLED, "Campaign Enrolled"),
        (EventType.CAMPAIGN_REMOVED, "Campaign Removed"),
        (EventType.CAMPAIGN_COMPLETED, "Campaign Completed"),
    ),
    Category.BOOKING: (
        (EventType.BOOKING_CONFIRMED, "Booking Confirmed"),
        (EventType.BOOKING_CANCELLED, "Booking Cancelled"),
        (EventType.BOOKING_RESCHEDULED, "Booking Rescheduled"),
    ),
    Category.MANUAL: (
        (EventType.STATUS_CHANGED, "Status Changed"),
        (EventType.NOTE_ADDED, "Note Added"),
        (EventType.LEAD_CLAIMED, "Lead Claimed"),
    ),
    Category.CONVERSATION: (
        (EventType.AI_RESPONSE_SENT, "AI Response Sent"),
        (EventType.QUALIFYING_QUESTION_ASKED, "Qualifying Question Asked"),
        (EventType.QUALIFYING_ANSWER_CAPTURED, "Qualifying Answer Captured"),
        (EventType.NURTURE_SCHEDULED, "Nurture Scheduled"),
        (EventType.CIRCUIT_BREAKER_TRIGGERED, "Circuit Breaker Triggered"),
        (EventType.CONVERSATION_ESCALATED, "Conversation Escalated"),
    ),
    Category.SYSTEM: (
        (EventType.ENRICHMENT_COMPLETED, "Enrichment Completed"),
        (EventType.ICP_SCORE_UPDATED, "ICP Score Updated"),
        (EventType.BULK_IMPORT, "Bulk Import"),
    ),
}

CATEGORY_OF: dict[EventType, Category] = {
    event_type: category
    for category, entries in _TYPES_BY_CATEGORY.items()
    for event_type, _ in entries
}
LABEL_OF: dict[EventType, str] = {
    event_type: label for entries in _TYPES_BY_CATEGORY.values() for event_type, label in entries
}
TYPES_OF: dict[Category, tuple[EventType, ...]] = {
    category: tuple(event_type for event_type, _ in entries)
    for category, entries in _TYPES_BY_CATEGORY.items()
}


@dataclass(frozen=True, slots=True)
class CategoryStyle:
    """How the UI shows a category: a colour name, its hex value and an icon name."""

    label: str
    colour: str
    hex: str
    icon: str


CATEGORY_STYLE: dict[Category, CategoryStyle] = {
    Category.SMS: CategoryStyle("SMS", "blue", "#2563eb", "message"),
    Category.CAMPAIGN: CategoryStyle("Campaign", "purple", "#7c3aed", "megaphone"),
    Category.BOOKING: CategoryStyle("Booking", "green", "#16a34a", "calendar"),
    Category.CONVERSATION: CategoryStyle("Conversation", "cyan", "#0891b2", "chat"),
    Category.MANUAL: CategoryStyle("Manual", "orange", "#ea580c", "hand"),
    Category.SYSTEM: CategoryStyle("System", "grey", "#6b7280", "gear"),
}
