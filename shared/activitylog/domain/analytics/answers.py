"""The shapes of the four analytics answers, as the API sends them (docs/ANALYTICS.md)."""

# Real annotations (no `from __future__`): the API's OpenAPI document reads these TypedDicts.
from typing import TypedDict


class ReplyRow(TypedDict):
    sent: int
    replied: int
    rate: float | None
    repliedAtAll: int


class PositionReplies(ReplyRow):
    position: int


class CampaignReplies(ReplyRow):
    campaign: str


class WeekReplies(ReplyRow):
    week: str
    open: bool  # the cohort's reply window has not closed yet (docs/ANALYTICS.md)
    windowClosesAt: str


class RepliesAnswer(TypedDict):
    hours: int
    overall: ReplyRow
    byPosition: list[PositionReplies]
    byCampaign: list[CampaignReplies]
    byWeek: list[WeekReplies]


class LeftCounts(TypedDict):
    removed: int
    opted_out: int
    silent: int


class FunnelStep(TypedDict):
    step: str
    leads: int
    conversion: float | None
    ofEnrolled: float | None
    dropOff: int
    left: LeftCounts


class FunnelAnswer(TypedDict):
    steps: list[FunnelStep]


class DeliveryRow(TypedDict):
    sent: int
    delivered: int
    failed: int
    deliveryRate: float | None
    failureRate: float | None


class DeliveryOverall(DeliveryRow):
    leadsMessaged: int
    optedOut: int
    optOutRate: float | None


class CarrierDelivery(DeliveryRow):
    carrier: str


class CampaignDelivery(DeliveryRow):
    campaign: str


class DeliveryAnswer(TypedDict):
    overall: DeliveryOverall
    byCarrier: list[CarrierDelivery]
    byCampaign: list[CampaignDelivery]


class HistogramBucket(TypedDict):
    upToHours: int | None  # null: longer than the last bound
    n: int


class Distribution(TypedDict):
    count: int
    medianHours: int | None
    p90Hours: int | None
    histogram: list[HistogramBucket]


class TimingAnswer(TypedDict):
    timeToReply: Distribution
    timeToBooking: Distribution
