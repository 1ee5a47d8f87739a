"""GET /api/analytics/{replies,funnel,delivery,timing} and their CSV twins.

Every answer adds up `analytics_counts` (see docs/ANALYTICS.md); portal keys read their
own client only. The eight routes are one table (`REPORTS`) over one handler body each way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
from litestar import Response, Router, get
from litestar.di import NamedDependency, Provide
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from activitylog.domain.analytics.answers import (
    DeliveryAnswer,
    FunnelAnswer,
    RepliesAnswer,
    TimingAnswer,
)
from activitylog.domain.analytics.rules import BOUNDS_HOURS
from activitylog.domain.csv_safe import encode_rows
from activitylog.domain.reads import params
from activitylog.storage.analytics import CountFilter
from activitylog.use_cases.access.keys import Role
from activitylog.use_cases.analytics import reports
from activitylog_api.auth import READ_ACTIVITY, Principal
from activitylog_api.errors import bad_request
from activitylog_api.openapi import (
    KEY_ERRORS,
    ClientIdParam,
    DateFrom,
    DateTo,
    error_responses,
    text_param,
)
from activitylog_api.state import ApiServices

HOURS_TEXT = ", ".join(str(h) for h in BOUNDS_HOURS)
# Blank means the default, as for every optional parameter.
HOURS_PARAM = {"enum": ["", *(str(h) for h in BOUNDS_HOURS)]}


def count_filter(
    principal: Principal | None,
    date_from: str | None,
    date_to: str | None,
    client_id: str | None,
    campaign: str | None,
    source: str | None,
) -> CountFilter:
    """The filters, validated (400 naming the field); a portal key is pinned to its client."""
    since, before = params.time_range(date_from, date_to)
    first, last = reports.weeks(since, before)
    client = params.uuid_value("clientId", client_id)
    if principal is not None and principal.role == Role.PORTAL:
        if client is not None and client != principal.client_id:
            raise PermissionDeniedException("this portal key may only read its own client")
        client = principal.client_id
    return CountFilter(
        since=first,
        until=last,
        client_id=client,
        campaign=params.text("campaign", campaign),
        source=params.text("source", source),
    )


def hours_value(hours: str | None) -> int:
    raw = params.text("hours", hours, 8)
    if raw is None:
        return reports.DEFAULT_HOURS
    if not raw.isdigit() or int(raw) not in BOUNDS_HOURS:
        raise bad_request("hours", f"must be one of {HOURS_TEXT}", validHours=list(BOUNDS_HOURS))
    return int(raw)


def provide_count_filter(
    principal: NamedDependency[Principal],
    date_from: DateFrom = None,
    date_to: DateTo = None,
    client_id: ClientIdParam = None,
    campaign: Annotated[
        str | None,
        QueryParameter(
            description="a campaign id, as events name it in metadata.campaignId",
            schema_extra=text_param(params.MAX_TEXT_CHARS),
        ),
    ] = None,
    source: Annotated[
        str | None,
        QueryParameter(
            description="the source of the lead's first event in the campaign",
            schema_extra=text_param(params.MAX_TEXT_CHARS),
        ),
    ] = None,
) -> CountFilter:
    return count_filter(principal, date_from, date_to, client_id, campaign, source)


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _csv(name: str, header: list[str], rows: list[list[Any]]) -> Response[bytes]:
    return Response(
        encode_rows([header, *rows]),
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="analytics-{name}.csv"',
            "Cache-Control": "no-store",
        },
    )


def replies_rows(body: RepliesAnswer) -> list[list[Any]]:
    rows: list[list[Any]] = [["overall", "", *_reply_cells(body["overall"])]]
    rows += [["position", r["position"], *_reply_cells(r)] for r in body["byPosition"]]
    rows += [["campaign", r["campaign"], *_reply_cells(r)] for r in body["byCampaign"]]
    rows += [
        ["week", r["week"], *_reply_cells(r), r["open"], r["windowClosesAt"]]
        for r in body["byWeek"]
    ]
    return rows


def _reply_cells(r: dict[str, Any]) -> list[Any]:
    return [r["sent"], r["replied"], _pct(r["rate"])]


def funnel_rows(body: FunnelAnswer) -> list[list[Any]]:
    return [
        [
            s["step"],
            s["leads"],
            _pct(s["conversion"]),
            _pct(s["ofEnrolled"]),
            s["dropOff"],
            *s["left"].values(),
        ]
        for s in body["steps"]
    ]


def delivery_rows(body: DeliveryAnswer) -> list[list[Any]]:
    def cells(r: dict[str, Any]) -> list[Any]:
        return [
            r["sent"],
            r["delivered"],
            r["failed"],
            _pct(r["deliveryRate"]),
            _pct(r["failureRate"]),
        ]

    o = body["overall"]
    rows: list[list[Any]] = [["overall", "", *cells(o)]]
    rows += [["carrier", r["carrier"], *cells(r)] for r in body["byCarrier"]]
    rows += [["campaign", r["campaign"], *cells(r)] for r in body["byCampaign"]]
    rows.append(["opt-out", "", o["leadsMessaged"], "", o["optedOut"], "", _pct(o["optOutRate"])])
    return rows


def timing_rows(body: TimingAnswer) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for measure, key in (("time to reply", "timeToReply"), ("time to booking", "timeToBooking")):
        d = body[key]
        rows += [[measure, h["upToHours"], h["n"]] for h in d["histogram"]]
        rows.append([f"{measure} median", d["medianHours"], d["count"]])
        rows.append([f"{measure} p90", d["p90Hours"], d["count"]])
    return rows


FUNNEL_HEADER = [
    "step",
    "leads",
    "conversion",
    "of_enrolled",
    "drop_off",
    "left_removed",
    "left_opted_out",
    "left_silent",
]
DELIVERY_HEADER = [
    "breakdown",
    "key",
    "sent",
    "delivered",
    "failed",
    "delivery_rate",
    "failure_rate",
]


def replies_header(hours: int) -> list[str]:
    return ["breakdown", "key", "sent", f"replied_within_{hours}h", "rate", "open",
            "window_closes_at"]  # fmt: skip


Read = Callable[[asyncpg.Connection, CountFilter, int], Awaitable[Any]]


def _over_any_window(read: Callable[[asyncpg.Connection, CountFilter], Awaitable[Any]]) -> Read:
    """A report without an hours window, read as one that takes it."""

    async def read_it(conn: asyncpg.Connection, counts: CountFilter, _: int) -> Any:
        return await read(conn, counts)

    return read_it


@dataclass(frozen=True, slots=True)
class Report:
    """One of the four answers: its JSON route `/{name}` and its CSV twin `/{name}.csv`."""

    name: str
    summary: str
    csv_summary: str
    answer: type  # the JSON answer's shape (views of docs/ANALYTICS.md)
    read: Read
    header: Callable[[int], list[str]]  # the CSV's header for the hours window
    rows: Callable[[Any], list[list[Any]]]
    hours: bool = False  # takes the `hours` window


REPORTS = (
    Report(
        "replies",
        "Reply within N hours of a message",
        "Reply within N hours, as CSV",
        RepliesAnswer,
        reports.replies,
        replies_header,
        replies_rows,
        hours=True,
    ),
    Report(
        "funnel",
        "Campaign funnel and drop-off",
        "Campaign funnel, as CSV",
        FunnelAnswer,
        _over_any_window(reports.funnel),
        lambda _: FUNNEL_HEADER,
        funnel_rows,
    ),
    Report(
        "delivery",
        "Delivery health",
        "Delivery health, as CSV",
        DeliveryAnswer,
        _over_any_window(reports.delivery),
        lambda _: DELIVERY_HEADER,
        delivery_rows,
    ),
    Report(
        "timing",
        "Time to reply and to booking",
        "Time to reply and to booking, as CSV",
        TimingAnswer,
        _over_any_window(reports.timing),
        lambda _: ["measure", "up_to_hours", "leads"],
        timing_rows,
    ),
)


def provide_hours(
    hours: Annotated[
        str | None,
        QueryParameter(description=f"one of {HOURS_TEXT} (default 24)", schema_extra=HOURS_PARAM),
    ] = None,
) -> int:
    return hours_value(hours)


def _default_hours() -> int:
    return reports.DEFAULT_HOURS


def report_routes(report: Report) -> list[HTTPRouteHandler]:
    """The JSON and the CSV route of `report`: one body, read once, written either way."""
    window = Provide(provide_hours if report.hours else _default_hours, sync_to_thread=False)

    async def read(services: ApiServices, counts: CountFilter, hours: int) -> Any:
        async with services.pool.acquire() as conn:
            return await report.read(conn, counts, hours)

    async def answer(
        services: NamedDependency[ApiServices],
        counts: NamedDependency[CountFilter],
        window_hours: NamedDependency[int],
    ) -> Any:
        return await read(services, counts, window_hours)

    async def as_csv(
        services: NamedDependency[ApiServices],
        counts: NamedDependency[CountFilter],
        window_hours: NamedDependency[int],
    ) -> Response[bytes]:
        body = await read(services, counts, window_hours)
        return _csv(report.name, report.header(window_hours), report.rows(body))

    # The handlers' names make the document's operation ids (ApiAnalyticsRepliesReplies, …).
    answer.__name__ = answer.__qualname__ = report.name
    as_csv.__name__ = as_csv.__qualname__ = f"{report.name}_csv"
    ok = ResponseSpec(report.answer, description=_FULFILLED, generate_examples=False)
    return [
        get(
            f"/{report.name}",
            summary=report.summary,
            dependencies={"window_hours": window},
            responses={200: ok, **error_responses(*KEY_ERRORS)},
        )(answer),
        get(
            f"/{report.name}.csv",
            summary=report.csv_summary,
            media_type="text/csv",
            dependencies={"window_hours": window},
            responses=error_responses(*KEY_ERRORS),
        )(as_csv),
    ]


_FULFILLED = "Request fulfilled, document follows"

ANALYTICS_ROUTES = Router(
    path="/api/analytics",
    route_handlers=[route for report in REPORTS for route in report_routes(report)],
    guards=[READ_ACTIVITY],
    tags=["analytics"],
    dependencies={"counts": Provide(provide_count_filter, sync_to_thread=False)},
)
