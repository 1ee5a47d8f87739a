"""GET /api/admin/activity-logs/export.csv: proper CSV, neutralised formulas, bounded memory."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from activitylog.runtime.settings import Settings
from activitylog_testing.leads import add_lead
from activitylog_testing.polling import wait_for
from activitylog_testing.ports import free_port
from api_support import event_row, insert_rows
from support import spawn, stop_process

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


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


async def test_a_hundred_thousand_rows_stream_in_bounded_memory(
    settings: Settings, pool, admin_key, artifacts
) -> None:
    n = 100_000
    # Long lead names make a large export cheaply (event text would feed the search index).
    filler = "lorem ipsum dolor sit amet " * 10
    leads = [
        await add_lead(pool, f"recBulk{i:05d}", first_name=f"Lead{i}", last_name=filler)
        for i in range(20)
    ]
    base = datetime(2026, 1, 1, tzinfo=UTC)
    await insert_rows(
        pool,
        [
            event_row(
                leads[i % 20],
                airtable_id=f"recBulk{i % 20:05d}",
                message=f"message {i}",
                execution_id=f"exec-{i}",
                timestamp=base + timedelta(seconds=i // 3),
                event_id=uuid.UUID(int=i + 1),
            )
            for i in range(n)
        ],
    )
    port = free_port()
    proc = spawn(
        ["api"],
        settings.model_copy(update={"api_port": port}),
        log_path=artifacts / "api.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(
            base_url=url, headers={"x-api-key": admin_key}, timeout=120
        ) as http:

            async def up() -> bool:
                try:
                    return (await http.get("/health/live")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_for(up, timeout=30, message="the API process")
            # Warm up (imports, pool, first queries) before taking the baseline.
            warm = await http.get(PATH, params={"leadAirtableId": "recBulk00001"})
            assert warm.status_code == 200
            baseline = _peak_rss_kib(proc.pid)
            received = 0
            rows = 0
            ids: set[str] = set()
            tail = ""
            async with http.stream("GET", PATH) as response:
                assert response.status_code == 200
                async for text in response.aiter_text():
                    received += len(text)
                    # Parse as it arrives: complete lines only (no field here spans lines).
                    tail += text
                    lines = tail.split("\r\n")
                    tail = lines.pop()
                    for record in csv.reader(lines):
                        rows += 1
                        ids.add(record[9])
            peak = _peak_rss_kib(proc.pid)
    finally:
        stop_process(proc)
    assert tail == ""
    assert rows == n + 1  # the header, then every row
    assert len(ids) == n + 1
    assert received > 30_000_000  # the export is large ...
    growth_mib = (peak - baseline) / 1024
    # ... but the server's peak memory hardly moves: it streams by keyset chunks.
    assert growth_mib < 20, f"server peak RSS grew {growth_mib:.1f} MiB for {received} bytes"
    (artifacts / "memory.txt").write_text(
        f"exported {received} bytes, {n} rows; server peak RSS {baseline} → {peak} KiB\n"
    )
