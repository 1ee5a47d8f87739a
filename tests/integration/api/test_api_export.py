"""GET /api/admin/activity-logs/export.csv: proper CSV, neutralised formulas, bounded memory."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from activitylog_testing.leads import add_lead
from api_support import event_row, insert_rows

PATH = "/api/admin/activity-logs/export.csv"
HEADER = [
    "Timestamp",
    "Category",
    "Event Type",
    "Description",
    "Message Content",
    "Lead Name",
    "Lead Email",
    "Lead Airtable ID",
    "Source",
    "Execution ID",
    "Created By",
]


async def test_columns_filters_and_neutralised_formulas(api, pool, admin_key) -> None:
    lead = await add_lead(
        pool, "recCsvLead01", first_name="=cmd", last_name="Smith", email="@evil.example"
    )
    t = datetime(2026, 3, 1, 8, tzinfo=UTC)
    await insert_rows(
        pool,
        [
            event_row(
                lead,
                airtable_id="recCsvLead01",
                description="+SUM(A1:A9)",
                message='-2+3, "quoted", and a\nnew line',
                execution_id="@exec",
                timestamp=t,
            ),
            event_row(
                lead,
                airtable_id="recCsvLead01",
                event_type="NOTE_ADDED",
                category="MANUAL",
                description="\tTabbed",
                message="=1+1",
                source="ui:add-note",
                timestamp=t + timedelta(minutes=1),
            ),
        ],
    )
    async with api.client(admin_key) as http:
        response = await http.get(PATH)
        filtered = await http.get(PATH, params={"category": "SMS"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == HEADER
    assert rows[1] == [
        "2026-03-01T08:01:00Z",
        "MANUAL",
        "NOTE_ADDED",
        "'\tTabbed",
        "'=1+1",
        "'=cmd Smith",
        "'@evil.example",
        "recCsvLead01",
        "ui:add-note",
        "",
        "",
    ]
    assert rows[2][3:5] == ["'+SUM(A1:A9)", '\'-2+3, "quoted", and a\nnew line']
    assert rows[2][9] == "'@exec"
    assert len(rows) == 3
    assert len(list(csv.reader(io.StringIO(filtered.text)))) == 2
