"""`activitylog demo` and `activitylog analytics rebuild`: the demo history goes through the
write path, its analytics agree with a rebuild from the log, and `--remove` leaves nothing."""

from __future__ import annotations

import asyncpg

from activitylog.runtime.settings import Settings
from activitylog.use_cases.analytics.demo import DEMO_LEAD_PREFIX, DEMO_SOURCE
from support import run_cli


async def snapshot(pool: asyncpg.Pool) -> tuple[list[tuple], dict[tuple, int]]:
    facts = await pool.fetch("SELECT * FROM lead_campaign_facts ORDER BY lead_id, campaign")
    counts = await pool.fetch(
        """
        SELECT grain, client_id, campaign, week, source, metric, dim, bucket, sum(n) AS n
        FROM analytics_counts GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING sum(n) <> 0
        """
    )
    return [tuple(r) for r in facts], {tuple(r)[:-1]: int(r["n"]) for r in counts}


async def test_demo_loads_agrees_with_a_rebuild_and_is_removed(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    loaded = run_cli(settings, "demo", "--leads", "300")
    assert loaded.returncode == 0, loaded.stderr
    assert "demo loaded" in loaded.stdout
    sources = await pool.fetch("SELECT DISTINCT source FROM lead_activity_log")
    assert [r["source"] for r in sources] == [DEMO_SOURCE]
    metrics = {
        r["metric"] for r in await pool.fetch("SELECT DISTINCT metric FROM analytics_counts")
    }
    assert {"reply", "booking", "msg_failed", "opted_out", "left"} <= metrics
    incremental = await snapshot(pool)

    rebuilt = run_cli(settings, "analytics", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "analytics rebuilt" in rebuilt.stdout
    assert await snapshot(pool) == incremental

    again = run_cli(settings, "demo", "--leads", "300")  # every event a duplicate
    assert again.returncode == 0, again.stderr
    assert "demo loaded: 0 events" in again.stdout
    assert await snapshot(pool) == incremental

    removed = run_cli(settings, "demo", "--remove")
    assert removed.returncode == 0, removed.stderr
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 0
    assert await snapshot(pool) == ([], {})
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM leads WHERE starts_with(airtable_record_id, $1)", DEMO_LEAD_PREFIX
        )
        == 0
    )
    assert await pool.fetchval("SELECT coalesce(sum(n), 0) FROM event_counts") == 0
