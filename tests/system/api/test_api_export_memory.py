"""The activity export of 100,000 rows from a real API process: it streams, and the
server's memory hardly moves."""

from __future__ import annotations

import csv
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from activitylog.runtime.settings import Settings
from activitylog_testing.leads import add_lead
from activitylog_testing.ports import free_port
from activitylog_testing.serving import answering
from api_support import event_row, insert_rows
from support import spawn, stop_process

PATH = "/api/admin/activity-logs/export.csv"


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
            await answering(http, timeout=30, message="the API process")
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
