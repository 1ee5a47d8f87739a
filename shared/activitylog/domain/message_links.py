"""Which lead an event lands on when it names none by id, and what an SMS fact takes from
its send (docs/CONTRACT.md §6): pure rules, no I/O; the batch store reads and writes.

A report (delivery, failure, click) belongs to the message it names: its lead and its
campaign come from the send when the report lacks them, whichever arrives first. A send
stored after its reports gives them its campaign then.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from activitylog.contract.events import ActivityEvent
from activitylog.contract.identity import AcceptedEvent, message_fact_id
from activitylog.contract.references import phone_key
from activitylog.contract.taxonomy import EventType
from activitylog.contract.tracking_plan import CAMPAIGN_ID, REPORTS, campaign_of
from activitylog.domain.records import LeadRef, StoredFact

SEND = EventType.MESSAGE_SENT


def send_id(ev: ActivityEvent) -> uuid.UUID | None:
    """The id of the send a report is about (the id rule makes it computable)."""
    message = ev.message
    if ev.event_type not in REPORTS or message is None:
        return None
    return message_fact_id(message.provider, message.message_id, SEND)


class MessageLinks:
    """A batch's reports and the sends they belong to, in the batch or stored."""

    def __init__(self, events: Iterable[AcceptedEvent]) -> None:
        self.sends = {
            a.id: a for a in events if a.event.event_type is SEND and a.event.message is not None
        }
        self.reports = [a for a in events if send_id(a.event) is not None]
        self.stored: dict[uuid.UUID, StoredFact] = {}  # sends stored before, by id
        self._placed: dict[uuid.UUID, LeadRef] = {}  # this batch's sends, once placed

    def wanted(self) -> list[uuid.UUID]:
        """The stored sends to read: those of reports whose send is not in the batch."""
        ids = {send_id(a.event) for a in self.reports}
        return sorted(i for i in ids if i is not None and i not in self.sends)

    @staticmethod
    def reports_last(accepted: AcceptedEvent) -> int:
        """Sort key: place sends before reports, so a report finds its send's lead."""
        return 1 if send_id(accepted.event) is not None else 0

    def placed(self, accepted: AcceptedEvent, lead: LeadRef) -> None:
        if accepted.id in self.sends:
            self._placed[accepted.id] = lead

    def lead_of(self, ev: ActivityEvent) -> LeadRef | None:
        """The lead of the report's send, when that send is known."""
        sid = send_id(ev)
        if sid is None:
            return None
        if sid in self._placed:
            return self._placed[sid]
        stored = self.stored.get(sid)
        return (
            LeadRef(stored.lead_id, stored.lead_airtable_id, stored.client_id) if stored else None
        )

    def metadata_of(self, accepted: AcceptedEvent) -> dict[str, Any] | None:
        """What the event stores as metadata: a report naming no campaign takes its send's."""
        ev = accepted.event
        sid = send_id(ev)
        if sid is None or campaign_of(ev.metadata):
            return ev.metadata
        if sid in self.sends:
            campaign = campaign_of(self.sends[sid].event.metadata)
        else:
            campaign = self.stored[sid].campaign if sid in self.stored else None
        return {**(ev.metadata or {}), CAMPAIGN_ID.name: campaign} if campaign else ev.metadata

    @staticmethod
    def campaigns_of_reports(inserted: Iterable[AcceptedEvent]) -> dict[uuid.UUID, str]:
        """The id every report of a newly stored send would have → the send's campaign."""
        out: dict[uuid.UUID, str] = {}
        for a in inserted:
            message, campaign = a.event.message, campaign_of(a.event.metadata)
            if a.event.event_type is SEND and message is not None and campaign:
                for t in REPORTS:
                    out[message_fact_id(message.provider, message.message_id, t)] = campaign
        return out

    @staticmethod
    def campaign_fills(
        campaigns: dict[uuid.UUID, str], reports: Iterable[StoredFact]
    ) -> dict[uuid.UUID, str]:
        """Stored reports without a campaign → the campaign of their newly stored send."""
        return {r.id: campaigns[r.id] for r in reports if not r.campaign and r.id in campaigns}

    @staticmethod
    def arrived_keys(inserted: Iterable[AcceptedEvent]) -> list[str]:
        """What newly stored sends may place: reports waiting for their message."""
        return [
            f"message:{a.event.message.key}"
            for a in inserted
            if a.event.event_type is SEND and a.event.message is not None
        ]


def by_contact(
    ev: ActivityEvent,
    by_phone: dict[str, list[LeadRef]],
    by_email: dict[str, list[LeadRef]],
) -> LeadRef | str | None:
    """The one lead the event's phone (else email) names; a reason when several do, None
    when none does. An event naming its client only matches that client's leads."""
    for kind, value, found in (
        ("phone", ev.lead_phone, by_phone.get(phone_key(ev.lead_phone or ""), [])),
        ("email", ev.lead_email, by_email.get(ev.lead_email or "", [])),
    ):
        if value is None:
            continue
        candidates = sorted(found, key=lambda r: r.airtable_record_id or str(r.id))
        if ev.client_id is not None:
            candidates = [r for r in candidates if r.client_id in (ev.client_id, None)]
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            names = ", ".join(r.airtable_record_id or str(r.id) for r in candidates[:5])
            return f"{kind} {value} matches {len(candidates)} leads ({names}); name the lead"
    return None


def unplaced_reason(ev: ActivityEvent) -> str:
    """Why no lead took the event, as the retry queue and the admin UI show it."""
    if ev.lead_id is not None and not (ev.lead_phone or ev.lead_email or ev.message):
        return f"lead {ev.lead_id} does not exist (yet)"
    parts = []
    if ev.lead_id is not None:
        parts.append(f"no lead {ev.lead_id}")
    if ev.lead_phone:
        parts.append(f"no lead with phone {ev.lead_phone}")
    if ev.lead_email:
        parts.append(f"no lead with email {ev.lead_email}")
    if send_id(ev) is not None and ev.message is not None:
        parts.append(f"no send of message {ev.message.key} stored yet")
    return "; ".join(parts) or "no lead named"


def waiting_keys(ev: ActivityEvent) -> tuple[str, ...]:
    """What would place the event: that lead saved, or that send stored."""
    keys = []
    if ev.lead_id is not None:
        keys.append(f"lead:{ev.lead_id}")
    if ev.lead_phone:
        keys.append(f"phone:{phone_key(ev.lead_phone)}")
    if ev.lead_email:
        keys.append(f"email:{ev.lead_email}")
    if send_id(ev) is not None and ev.message is not None:
        keys.append(f"message:{ev.message.key}")
    return tuple(keys)


def lead_keys(lead_id: uuid.UUID, phone: str | None, email: str | None) -> list[str]:
    """The waiting keys a saved lead answers."""
    keys = [f"lead:{lead_id}"]
    if phone and (key := phone_key(phone)):
        keys.append(f"phone:{key}")
    if email:
        keys.append(f"email:{email.strip().lower()}")
    return keys
