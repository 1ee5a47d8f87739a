"""retry_queue rows as the API and the CLI show them (camelCase JSON)."""

from __future__ import annotations

from typing import Any

from activitylog.contract.times import iso
from activitylog.domain.dead_letters import RetryRow


def row_json(row: RetryRow) -> dict[str, Any]:
    """A row as the API and `retry-queue show --json` present it (camelCase)."""
    return {
        "id": row.id,
        "queueId": row.queue_id,
        "operationType": row.operation_type,
        "leadId": row.lead_id,
        "payload": row.payload,
        "retryCount": row.retry_count,
        "nextRetryAt": iso(row.next_retry_at),
        "lastError": row.last_error,
        "status": row.status.value,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
        "alertedAt": iso(row.alerted_at),
    }
