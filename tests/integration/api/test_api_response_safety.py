"""Small safety rules of every answer: JSON is `nosniff` and `no-store`; every CSV (the
activity export, the analytics CSVs) goes through the one formula-safe writer."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from activitylog.domain.csv_safe import encode_rows, safe_cell
from activitylog.use_cases.analytics import keeping
from activitylog.use_cases.store_batch import store_batch
from activitylog_testing.analytics_history import CLIENT, accepted
from activitylog_testing.leads import add_lead
from api_support import event_row, insert_rows
from support import event

# Characters a spreadsheet reads a formula from, and what may stand before them.
FORMULA = "=+-@＝＋－＠"
BLANKS = " \t\r\n\x0b\x0c\xa0\u2003"


def _spreadsheet_runs(cell: str) -> bool:
    """Would a spreadsheet take this cell's text as a formula?"""
    return cell[:1] in ("\t", "\r", "\n") or cell.lstrip()[:1] in set(FORMULA)


_cells = st.text(st.sampled_from(FORMULA + BLANKS + "ab1,\"'")) | st.text()


@given(text=_cells)
def test_no_written_cell_is_a_formula_and_nothing_else_changes(text) -> None:
    written = list(csv.reader(io.StringIO(encode_rows([[text, 7, -3.5, None]]).decode())))
    cell, number, negative, empty = written[0] if written else ["", "7", "-3.5", ""]
    assert not _spreadsheet_runs(cell), repr(cell)
    # Only what could run is touched, by one quote in front.
    assert cell == (("'" + text) if _spreadsheet_runs(text) else text) or text == ""
    assert (number, negative, empty) == ("7", "-3.5", "")
    assert safe_cell(text) == (cell if text else "")


async def test_the_activity_export_neutralises_blanks_before_a_formula(
    api, pool, admin_key
) -> None:
    lead = await add_lead(pool, "recCsvSafety1", first_name=" =HYPERLINK(1)")
    t = datetime(2026, 3, 1, 8, tzinfo=UTC)
    await insert_rows(
        pool,
        [
            event_row(
                lead,
                airtable_id="recCsvSafety1",
                description=" =1+1",
                message="\n=cmd",
                timestamp=t,
            )
        ],
    )
    async with api.client(admin_key) as http:
        response = await http.get("/api/admin/activity-logs/export.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[1][3:6] == ["' =1+1", "'\n=cmd", "' =HYPERLINK(1)"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_analytics_csvs_neutralise_the_same_cells(api, pool, admin_key) -> None:
    # Campaign and carrier names come from producers' metadata: any text (trimmed), such as
    # the full-width forms spreadsheets also read as formulas.
    history = [
        ("CAMPAIGN_ENROLLED", 0.0, "＝1+1", None),
        ("MESSAGE_SENT", 1.0, "＝1+1", "＠cmd"),
        ("MESSAGE_DELIVERED", 1.5, "＝1+1", "＠cmd"),
    ]
    async with pool.acquire() as conn:
        await store_batch(conn, accepted("recCsvSafety2", history))
        await keeping.drain_all(conn)
    async with api.client(admin_key) as http:
        replies = await http.get("/api/analytics/replies.csv", params={"clientId": str(CLIENT)})
        delivery = await http.get("/api/analytics/delivery.csv", params={"clientId": str(CLIENT)})
    cells = [
        cell
        for response in (replies, delivery)
        for row in csv.reader(io.StringIO(response.text))
        for cell in row
    ]
    assert "'＝1+1" in cells
    assert "'＠cmd" in cells
    assert not [c for c in cells if _spreadsheet_runs(c)]


async def test_json_answers_are_nosniff_and_no_store(api, pool, admin_key, ingest_key) -> None:
    async with api.client(admin_key) as admin, api.client(None) as anonymous:
        answers = {
            "timeline 404": await admin.get("/api/leads/recNobody0001/activity"),
            "browser": await admin.get("/api/admin/activity-logs/"),
            "bad parameter": await admin.get("/api/admin/activity-logs/", params={"limit": 0}),
            "no key": await anonymous.get("/api/admin/activity-logs/"),
            "no route": await admin.get("/api/no-such-route"),
            "health": await anonymous.get("/health/ready"),
            "figures": await anonymous.get("/api/internal/activity-health"),
        }
    async with api.client(ingest_key) as http:
        answers["event"] = await http.post("/api/internal/log-activity", json=event(1))
    for name, response in answers.items():
        assert response.headers["content-type"].startswith("application/json"), name
        assert response.headers["x-content-type-options"] == "nosniff", name
        assert response.headers["cache-control"] == "no-store", name
