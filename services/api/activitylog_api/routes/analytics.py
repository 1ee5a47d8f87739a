"""GET /api/analytics/{replies,funnel,delivery,timing} and their CSV twins.

Every answer adds up `analytics_counts` (see docs/ANALYTICS.md); portal keys read their
own client only.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency, Provide
from litestar.exceptions import PermissionDeniedException
from litestar.params import QueryParameter

from activitylog.domain.analytics.answers import (
    DeliveryAnswer,
    FunnelAnswer,
    RepliesAnswer,
    TimingAnswer,
)
from activitylog.domain.analytics.rules import BOUNDS_HOURS
from activitylog.domain.csv_safe import encode_rows
from activitylog.storage.analytics import CountFilter
from activitylog.use_cases.access.keys import Role
from activitylog.use_cases.analytics import reports
from activitylog_api import params
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
    rows += [["week", r["week"], *_reply_cells(r)] for r in body["byWeek"]]
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


class AnalyticsController(Controller):
    path = "/api/analytics"
    guards = [READ_ACTIVITY]  # noqa: RUF012 - Litestar reads the class attribute
    tags = ["analytics"]  # noqa: RUF012
    dependencies = {"counts": Provide(provide_count_filter, sync_to_thread=False)}  # noqa: RUF012

    @get(
        "/replies",
        summary="Reply within N hours of a message",
        responses=error_responses(*KEY_ERRORS),
    )
    async def replies(
        self,
        services: NamedDependency[ApiServices],
        counts: NamedDependency[CountFilter],
        hours: Annotated[
            str | None,
            QueryParameter(
                description=f"one of {HOURS_TEXT} (default 24)", schema_extra=HOURS_PARAM
            ),
        ] = None,
    ) -> RepliesAnswer:
        n = hours_value(hours)
        async with services.pool.acquire() as conn:
            return await reports.replies(conn, counts, n)

    @get(
        "/replies.csv",
        summary="Reply within N hours, as CSV",
        media_type="text/csv",
        responses=error_responses(*KEY_ERRORS),
    )
    async def replies_csv(
        self,
        services: NamedDependency[ApiServices],
        counts: NamedDependency[CountFilter],
        hours: Annotated[
            str | None,
            QueryParameter(
                description=f"one of {HOURS_TEXT} (default 24)", schema_extra=HOURS_PARAM
            ),
        ] = None,
    ) -> Response[bytes]:
        n = hours_value(hours)
        async with services.pool.acquire() as conn:
            body = await reports.replies(conn, counts, n)
        return _csv(
            "replies",
            ["breakdown", "key", "sent", f"replied_within_{n}h", "rate"],
            replies_rows(body),
        )

    @get("/funnel", summary="Campaign funnel and drop-off", responses=error_responses(*KEY_ERRORS))
    async def funnel(
        self, services: NamedDependency[ApiServices], counts: NamedDependency[CountFilter]
    ) -> FunnelAnswer:
        async with services.pool.acquire() as conn:
            return await reports.funnel(conn, counts)

    @get(
        "/funnel.csv",
        summary="Campaign funnel, as CSV",
        media_type="text/csv",
        responses=error_responses(*KEY_ERRORS),
    )
    async def funnel_csv(
        self, services: NamedDependency[ApiServices], counts: NamedDependency[CountFilter]
    ) -> Response[bytes]:
        async with services.pool.acquire() as conn:
            body = await reports.funnel(conn, counts)
        header = [
            "step",
            "leads",
            "conversion",
            "of_enrolled",
            "drop_off",
            "left_removed",
            "left_opted_out",
            "left_silent",
        ]
        return _csv("funnel", header, funnel_rows(body))

    @get("/delivery", summary="Delivery health", responses=error_responses(*KEY_ERRORS))
    async def delivery(
        self, services: NamedDependency[ApiServices], counts: NamedDependency[CountFilter]
    ) -> DeliveryAnswer:
        async with services.pool.acquire() as conn:
            return await reports.delivery(conn, counts)

    @get(
        "/delivery.csv",
        summary="Delivery health, as CSV",
        media_type="text/csv",
        responses=error_responses(*KEY_ERRORS),
    )
    async def delivery_csv(
        self, services: NamedDependency[ApiServices], counts: NamedDependency[CountFilter]
    ) -> Response[bytes]:
        async with services.pool.acquire() as conn:
            body = await reports.delivery(conn, counts)
        header = [
            "breakdown",
            "key",
            "sent",
            "delivered",
            "failed",
            "delivery_rate",
            "failure_rate",
        ]
        return _csv("delivery", header, delivery_rows(body))

    @get("/timing", summary="Time to reply and to booking", responses=error_responses(*KEY_ERRORS))
    async def timing(
        self, services: NamedDependency[ApiServices], counts: NamedDependency[CountFilter]
    ) -> TimingAnswer:
        async with services.pool.acquire() as conn:
            return await reports.timing(conn, counts)

    @get(
        "/timing.csv",
        summary="Time to reply and to booking, as CSV",
        media_type="text/csv",
        responses=error_responses(*KEY_ERRORS),
    )
    async def timing_csv(
        self, services: NamedDependency[ApiServices], counts: NamedDependency[CountFilter]
    ) -> Response[bytes]:
        async with services.pool.acquire() as conn:
            body = await reports.timing(conn, counts)
        return _csv("timing", ["measure", "up_to_hours", "leads"], timing_rows(body))
