"""GET /api/analytics/*: hand-computed answers, filters, portal scope, CSV twins, bad input."""

from __future__ import annotations

import csv
import io
import uuid

import asyncpg

from activitylog.use_cases.access.keys import Role
from activitylog.use_cases.analytics import keeping
from activitylog.use_cases.store_batch import store_batch
from activitylog_testing.analytics_history import (
    CLIENT,
    LATE_REPLY,
    SOURCE,
    THREE_MESSAGES,
    accepted,
)

OTHER = uuid.UUID(int=0xB2)


async def seed(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await store_batch(conn, accepted("recApiAnalytic01", THREE_MESSAGES))
        await store_batch(conn, accepted("recApiAnalytic02", LATE_REPLY))
        await store_batch(conn, accepted("recApiAnalytic03", THREE_MESSAGES, client=OTHER))
        await keeping.drain_all(conn)  # what the retry service does within a second


async def test_each_answer_matches_the_hand_computed_figures(api, pool, admin_key) -> None:
    await seed(pool)
    query = {"clientId": str(CLIENT)}
    async with api.client(admin_key) as http:
        replies = (await http.get("/api/analytics/replies", params=query)).json()
        within_48 = (
            await http.get("/api/analytics/replies", params=query | {"hours": "48"})
        ).json()
        funnel = (await http.get("/api/analytics/funnel", params=query)).json()
        delivery = (await http.get("/api/analytics/delivery", params=query)).json()
        timing = (await http.get("/api/analytics/timing", params=query)).json()
        everyone = (await http.get("/api/analytics/replies")).json()

    # Lead 1 answered its 2nd message exactly 24 h later; lead 2 one second too late.
    assert replies["overall"] == {"sent": 2, "replied": 1, "rate": 0.5, "repliedAtAll": 2}
    assert [(p["position"], p["sent"], p["replied"]) for p in replies["byPosition"]] == [
        (1, 2, 0),
        (2, 1, 1),
        (3, 1, 0),
    ]
    assert replies["byCampaign"] == [
        {"campaign": "spring", "sent": 2, "replied": 1, "rate": 0.5, "repliedAtAll": 2}
    ]
    assert [w["week"] for w in replies["byWeek"]] == ["2026-03-02"]
    assert within_48["overall"]["replied"] == 2
    assert everyone["overall"]["sent"] == 3

    steps = {s["step"]: s for s in funnel["steps"]}
    assert [s["leads"] for s in funnel["steps"]] == [2, 2, 1, 1, 1, 0]
    assert steps["delivered"]["dropOff"] == 1
    assert steps["delivered"]["left"] == {"removed": 0, "opted_out": 1, "silent": 0}
    assert steps["completed"]["left"] == {"removed": 0, "opted_out": 0, "silent": 1}
    assert steps["booked"]["ofEnrolled"] == 0.5

    assert delivery["overall"] == {
        "sent": 4,
        "delivered": 1,
        "failed": 1,
        "deliveryRate": 0.25,
        "failureRate": 0.25,
        "leadsMessaged": 2,
        "optedOut": 1,
        "optOutRate": 0.5,
    }
    carriers = {
        c["carrier"]: (c["sent"], c["delivered"], c["failed"]) for c in delivery["byCarrier"]
    }
    assert carriers == {"tmobile": (1, 0, 1), "verizon": (3, 1, 0)}

    reply = timing["timeToReply"]
    assert (reply["count"], reply["medianHours"], reply["p90Hours"]) == (2, 24, 48)
    booking = timing["timeToBooking"]
    assert (booking["count"], booking["medianHours"], booking["p90Hours"]) == (1, 4, 4)


async def test_filters_narrow_the_cohorts(api, pool, admin_key) -> None:
    await seed(pool)
    async with api.client(admin_key) as http:
        later = await http.get("/api/analytics/replies", params={"dateFrom": "2026-03-09"})
        week = await http.get(
            "/api/analytics/replies", params={"dateFrom": "2026-03-04", "dateTo": "2026-03-04"}
        )
        other_campaign = await http.get("/api/analytics/funnel", params={"campaign": "autumn"})
        by_source = await http.get("/api/analytics/delivery", params={"source": SOURCE})
        no_source = await http.get("/api/analytics/delivery", params={"source": "n8n:other"})
    assert later.json()["overall"]["sent"] == 0
    assert week.json()["overall"]["sent"] == 3  # a date widens to its whole week
    assert [s["leads"] for s in other_campaign.json()["steps"]] == [0] * 6
    assert by_source.json()["overall"]["sent"] == 7
    assert no_source.json()["overall"]["sent"] == 0


async def test_a_portal_key_sees_its_own_client_only(api, pool, make_key) -> None:
    await seed(pool)
    key = await make_key(Role.PORTAL, OTHER, name="portal")
    async with api.client(key) as http:
        own = await http.get("/api/analytics/replies")
        other = await http.get("/api/analytics/funnel", params={"clientId": str(CLIENT)})
        own_csv = await http.get("/api/analytics/delivery.csv")
    assert own.json()["overall"] == {"sent": 1, "replied": 1, "rate": 1.0, "repliedAtAll": 1}
    assert other.status_code == 403
    rows = list(csv.reader(io.StringIO(own_csv.text)))
    assert rows[1][:5] == ["overall", "", "3", "1", "0"]


async def test_every_route_has_a_csv_twin(api, pool, admin_key) -> None:
    await seed(pool)
    async with api.client(admin_key) as http:
        answers = {
            name: await http.get(f"/api/analytics/{name}.csv", params={"clientId": str(CLIENT)})
            for name in ("replies", "funnel", "delivery", "timing")
        }
    for name, response in answers.items():
        assert response.status_code == 200, (name, response.text)
        assert response.headers["content-type"].startswith("text/csv")
        assert f'analytics-{name}.csv"' in response.headers["content-disposition"]
    tables = {n: list(csv.reader(io.StringIO(r.text))) for n, r in answers.items()}
    assert tables["replies"][0] == [
        "breakdown", "key", "sent", "replied_within_24h", "rate", "open", "window_closes_at"
    ]  # fmt: skip
    assert tables["replies"][1] == ["overall", "", "2", "1", "0.5000"]
    assert [r[1] for r in tables["funnel"][1:]] == ["2", "2", "1", "1", "1", "0"]
    assert ["time to reply median", "24", "2"] in tables["timing"]


async def test_bad_parameters_are_400s_naming_the_field(api, pool, admin_key) -> None:
    async with api.client(admin_key) as http:
        answers = {
            "hours": await http.get("/api/analytics/replies", params={"hours": "5"}),
            "clientId": await http.get("/api/analytics/funnel", params={"clientId": "nope"}),
            "dateFrom": await http.get("/api/analytics/timing", params={"dateFrom": "March"}),
            "campaign": await http.get("/api/analytics/delivery", params={"campaign": "x" * 201}),
        }
        anonymous = await http.get("/api/analytics/replies", headers={"X-API-Key": ""})
    for field, response in answers.items():
        assert response.status_code == 400, (field, response.text)
        assert field in response.text
    assert anonymous.status_code == 401
