"""/admin/analytics: reply rates, the campaign funnel, delivery health and timing, with filters;
every figure links to the activity browser filtered to the events behind it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import Template

from activitylog.domain.analytics.cohorts import open_weeks
from activitylog.domain.analytics.rules import BOUNDS_HOURS, FUNNEL
from activitylog.storage.analytics import CountFilter
from activitylog.use_cases.analytics.screen import read_analytics_screen
from activitylog_api.routes.analytics import count_filter, hours_value
from activitylog_api.state import ApiServices
from activitylog_api.ui.charts import Bar, Line, Series, lines, stacked_bars
from activitylog_api.ui.guard import SESSION, page_context

FORM_KEYS = ("dateFrom", "dateTo", "campaign", "clientId", "source", "hours")
# The event type behind each funnel step, for its link to the browser.
STEP_TYPES = dict(
    zip(
        FUNNEL,
        (
            "CAMPAIGN_ENROLLED",
            "MESSAGE_SENT",
            "MESSAGE_DELIVERED",
            "INBOUND_REPLY",
            "BOOKING_CONFIRMED",
            "CAMPAIGN_COMPLETED",
        ),
        strict=True,
    )
)
STEP_LABELS = {
    "enrolled": "Enrolled",
    "sent": "First message sent",
    "delivered": "Delivered",
    "replied": "Replied",
    "booked": "Booked",
    "completed": "Completed",
}
# Lines for the busiest campaigns, in the dashboard's category colours.
LINE_COLOURS = ("#2563eb", "#7c3aed", "#16a34a", "#ea580c", "#0891b2")
REPLIED = "#16a34a"
NOT_REPLIED = "#d0d5dd"
TIMING = "#2563eb"


@dataclass(frozen=True, slots=True)
class Links:
    """Activity-browser URLs for the events behind a figure under the page's filters."""

    f: CountFilter

    def events(self, *event_types: str, campaign: str | None = None) -> str:
        query: dict[str, str] = {"eventType": ",".join(event_types)}
        if self.f.since or self.f.until:
            # The cohorts' weeks; the browser shows those weeks' events by event time.
            query["range"] = "custom"
            if self.f.since:
                query["dateFrom"] = self.f.since.isoformat()
            if self.f.until:
                query["dateTo"] = (self.f.until - timedelta(days=1)).isoformat()
        chosen = campaign or self.f.campaign
        if chosen:
            query["search"] = chosen  # metadata values are searchable words
        if self.f.source:
            query["source"] = self.f.source
        return "/admin/activity-logs?" + urlencode(query)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _hours(value: int | None) -> str:
    if value is None:
        return "–"
    return f"≤ {value} h" if value < 48 else f"≤ {value // 24} d"


def _timing_chart(dist: dict[str, Any], label: str) -> Any:
    bars = [
        Bar(
            tick=_hours(h["upToHours"]).removeprefix("≤ ") if h["upToHours"] else "later",
            title=f"{_hours(h['upToHours']) if h['upToHours'] else 'longer than 30 d'}",
        )
        for h in dist["histogram"]
    ]
    series = [Series("Leads", TIMING, [h["n"] for h in dist["histogram"]])]
    return stacked_bars(bars, series, label=label)


def _rate_series(
    by_week: list[dict[str, Any]], per_campaign: dict[str, dict[Any, dict[str, Any]]]
) -> list[Line]:
    """The reply rate per week, in percent: all campaigns, then each busiest one."""
    weeks = [date.fromisoformat(w["week"]) for w in by_week]
    return [
        Line("All campaigns", "#111827", [_rate_percent(w["rate"]) for w in by_week]),
        *(
            Line(
                campaign or "(none)",
                LINE_COLOURS[i % len(LINE_COLOURS)],
                [_rate_percent(rows[week]["rate"]) if week in rows else None for week in weeks],
            )
            for i, (campaign, rows) in enumerate(per_campaign.items())
        ),
    ]


@dataclass(frozen=True, slots=True)
class OpenCohorts:
    """The weeks whose reply window is still open, and the two weekly charts without them
    drawn as failures."""

    weeks: dict[str, datetime]
    weekly_chart: Any
    rate_chart: Any

    @property
    def notes(self) -> list[str]:
        return [
            f"Week of {week}: open until {closes:%a %d %b %H:%M} UTC"
            for week, closes in self.weeks.items()
        ]


OPEN_COLOUR = "#bfdbfe"


def cohort_view(replies: dict[str, Any], rate_series: Sequence[Any], now: datetime) -> OpenCohorts:
    """The analytics page's weekly charts with open cohorts marked: their leads not (yet)
    replied count as "window still open", not "not within", and the rate lines leave
    them out (a gap, not a fall to 0 %)."""
    hours = int(replies["hours"])
    by_week = replies["byWeek"]
    weeks = open_weeks([w["week"] for w in by_week], hours, now)

    bars = [
        Bar(
            tick=w["week"][5:],
            title=f"Week of {w['week']}: "
            + ("open, " if w["week"] in weeks else "")
            + f"{_percent(w['rate'])} replied",
        )
        for w in by_week
    ]
    weekly = stacked_bars(
        bars,
        [
            Series(f"Replied within {hours} h", REPLIED, [w["replied"] for w in by_week]),
            Series(
                "Not within",
                NOT_REPLIED,
                [0 if w["week"] in weeks else w["sent"] - w["replied"] for w in by_week],
            ),
            Series(
                "Window still open",
                OPEN_COLOUR,
                [w["sent"] - w["replied"] if w["week"] in weeks else 0 for w in by_week],
            ),
        ],
        label=f"Leads messaged per week, replied within {hours} h",
    )
    points = [
        Bar(
            tick=w["week"][5:],
            title=f"Week of {w['week']}" + (" (open)" if w["week"] in weeks else ""),
        )
        for w in by_week
    ]
    series = [
        Line(
            s.name,
            s.colour,
            [None if by_week[i]["week"] in weeks else v for i, v in enumerate(s.values)],
        )
        for s in rate_series
    ]
    rate = lines(points, series, label=f"Reply rate within {hours} h per week", top=100, unit="%")
    return OpenCohorts(weeks, weekly, rate)


def _rate_percent(rate: float | None) -> float | None:
    return None if rate is None else round(100 * rate, 1)


@get("/admin/analytics", guards=[SESSION], include_in_schema=False)
async def analytics_page(
    request: Request[Any, Any, Any], services: NamedDependency[ApiServices]
) -> Template:
    form = {key: (request.query_params.get(key) or "").strip() for key in FORM_KEYS}
    f = count_filter(
        None,
        form["dateFrom"] or None,
        form["dateTo"] or None,
        form["clientId"] or None,
        form["campaign"] or None,
        form["source"] or None,
    )
    hours = hours_value(form["hours"] or None)
    screen = await read_analytics_screen(services.pool, f, hours)
    replies, funnel, timing = screen.replies, screen.funnel, screen.timing
    rate_series = _rate_series(replies["byWeek"], screen.per_campaign)
    top = max((s["leads"] for s in funnel["steps"]), default=0) or 1
    context = page_context(
        request,
        "analytics",
        form=form,
        hours=hours,
        hour_choices=BOUNDS_HOURS,
        campaigns=screen.campaigns,
        links=Links(f),
        replies=replies,
        funnel=[
            {
                **s,
                "label": STEP_LABELS[s["step"]],
                "type": STEP_TYPES[s["step"]],
                "width": round(100 * s["leads"] / top, 1),
            }
            for s in funnel["steps"]
        ],
        delivery=screen.delivery,
        timing=timing,
        rate_series=rate_series,
        # Weeks whose reply window is still open are drawn open, not as failures.
        cohorts=cohort_view(replies, rate_series, datetime.now(UTC)),
        reply_chart=_timing_chart(timing["timeToReply"], "Time to first reply"),
        booking_chart=_timing_chart(timing["timeToBooking"], "Time from reply to booking"),
        percent=_percent,
        hours_text=_hours,
    )
    return Template(
        template_name="analytics.html", context=context, headers={"Cache-Control": "no-store"}
    )
