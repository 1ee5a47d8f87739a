"""The API with a replica that does not answer: ready, and its read routes served by the primary."""

from __future__ import annotations

from activitylog_testing.leads import add_lead
from activitylog_testing.polling import wait_for
from activitylog_testing.ports import free_port
from api_support import sign_in_ui


async def test_read_routes_answer_from_the_primary_while_the_replica_is_down(
    api_settings, serve, pool, admin_key
) -> None:
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    settings = api_settings.model_copy(
        update={"database_read_url": down, "database_read_check_s": 0.1}
    )
    await add_lead(pool, "recReadDown01", "Ada")
    async with serve(settings) as api, api.client(admin_key) as http:

        async def unreachable() -> dict | None:
            ready = await http.get("/health/ready")
            assert ready.status_code == 200, ready.text
            report = ready.json()["read_replica"]
            return report if report["state"] == "primary (replica unreachable)" else None

        report = await wait_for(unreachable, timeout=10, message="the replica found down")
        assert report["reads_on"] == "primary"
        assert report["lag_s"] is None
        for path in (
            "/api/leads/recReadDown01",
            "/api/leads/recReadDown01/activity",
            "/api/admin/activity-logs",
            "/api/admin/activity-logs/counts",
        ):
            response = await http.get(path)
            assert response.status_code == 200, (path, response.text)
        metrics = (await http.get("/metrics")).text
        assert "activitylog_reads_on_replica 0.0" in metrics

        # The dashboard's health panel says where reads go.
        await sign_in_ui(pool, api.http)
        dashboard = await api.http.get("/admin")
        assert dashboard.status_code == 200
        assert 'id="fig-replica" data-reads-on="primary"' in dashboard.text
