"""SMS_Audit backfill benchmark: rows/s of `activitylog backfill sms-audit` beside the COPY
ceiling measured in the same run, on the same events.

Usage: python bench/sms_audit.py [--rows 1000000] [--leads 50000] [--batch-size 5000]
Needs PostgreSQL (BENCH_DATABASE_URL, else 127.0.0.1); creates and drops its own database.
The export is written the way Airtable writes it (BOM, CRLF, display-format dates, quoted
multi-line cells) and read through the same code as the command.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_support import WORDS, copy_ceiling_of_stored

from activitylog.runtime import db
from activitylog.use_cases.backfill import sms_audit as backfill
from activitylog.use_cases.backfill.sources import csv_chunks
from activitylog_testing.databases import with_database
from activitylog_testing.sms_audit import HEADER

PG = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# Status mix of a real base: most delivered, some clicked, undelivered, failed or pending.
_STATUSES = ["Delivered"] * 62 + ["Clicked"] * 10 + ["Undelivered"] * 8 + ["Failed"] * 4
_STATUSES += ["Sent"] * 14 + ["Queued"] * 1 + ["Delivered-no-time"] * 1


def write_export(path: Path, rows: int, leads: int, seed: int = 7) -> None:
    """`rows` SMS_Audit rows over two years, as an Airtable CSV export."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    span = 730 * 86_400
    with path.open("w", newline="", encoding="utf-8-sig") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(HEADER)
        for i in range(rows):
            sent = start + timedelta(seconds=rng.randrange(span))
            status = rng.choice(_STATUSES)
            delivered = sent + timedelta(seconds=rng.randrange(2, 120))
            has_delivery = status in {"Delivered", "Clicked", "Undelivered"}
            clicked = status == "Clicked"
            text = " ".join(rng.choice(WORDS) for _ in range(12))
            if i % 10 == 0:
                text += "\nReply STOP to opt out"  # a quoted multi-line cell
            writer.writerow(
                [
                    "SMS Sent",
                    f"st-{i}",
                    f"+1555{i % 10_000_000:07d}",
                    "Delivered" if status == "Delivered-no-time" else status,
                    rng.choice(["Verizon", "AT&T", "T-Mobile"]) if has_delivery else "",
                    f"recLead{rng.randrange(leads):08d}",
                    text,
                    sent.strftime("%m/%d/%Y %I:%M%p").lower(),
                    delivered.strftime("%m/%d/%Y %I:%M%p").lower() if has_delivery else "",
                    '{\n  "status": "delivered"\n}' if has_delivery and i % 5 == 0 else "",
                    "checked" if clicked else "",
                    (delivered + timedelta(minutes=3)).isoformat() if clicked else "",
                ]
            )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--leads", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=backfill.BATCH_SIZE)
    parser.add_argument("--concurrency", type=int, default=backfill.CONCURRENCY)
    parser.add_argument("--ceiling-rows", type=int, default=500_000)
    parser.add_argument("--rerun", action="store_true", help="time a second run (adds 0)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "SMS_Audit-Grid view.csv"
        started = time.perf_counter()
        write_export(export, args.rows, args.leads)
        size = export.stat().st_size
        print(f"{args.rows:,} rows, {size / 1e6:,.0f} MB export written in "
              f"{time.perf_counter() - started:.0f} s; {os.cpu_count()} CPUs")  # fmt: skip

        async with with_database(PG, f"activitylog_bench_{uuid.uuid4().hex[:8]}") as url:
            pool = await db.create_pool(url, min_size=1, max_size=args.concurrency,
                                        statement_timeout_s=None)  # fmt: skip
            try:
                started = time.perf_counter()
                summary = await backfill.run(
                    pool,
                    csv_chunks(export, args.batch_size),
                    tz=UTC,
                    source=str(export),
                    concurrency=args.concurrency,
                )
                elapsed = time.perf_counter() - started
                for line in summary.lines():
                    print(line)
                rows_rate = summary.rows_read / elapsed
                events_rate = summary.total_written / elapsed
                print(f"backfill took {elapsed:.1f} s")

                if args.rerun:
                    started = time.perf_counter()
                    again = await backfill.run(
                        pool, csv_chunks(export, args.batch_size), tz=UTC, source=str(export)
                    )
                    rerun = time.perf_counter() - started
                    print(f"second run: {again.total_written:,} written, {again.duplicates:,} "
                          f"duplicates, {again.rows_read / rerun:,.0f} rows/s")  # fmt: skip

                async with pool.acquire() as conn:
                    sample, ceiling = await copy_ceiling_of_stored(conn, args.ceiling_rows)
            finally:
                await pool.close()
        print(f"COPY ceiling ({sample:,} of the same events): {ceiling:>10,.0f} events/s")
        print(f"backfill:                              {events_rate:>10,.0f} events/s "
              f"({rows_rate:,.0f} SMS_Audit rows/s)")  # fmt: skip
        print(f"backfill / COPY ceiling              = {events_rate / ceiling:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
