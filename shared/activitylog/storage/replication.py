"""Streaming replication's positions: the primary's flushed WAL, the replica's replay."""

from __future__ import annotations

import asyncpg

from activitylog.domain.replica import ReplicaProbe

# Positions as bytes from 0/0 (asyncpg has no pg_lsn codec); numeric → bigint holds 8 EiB.
_PRIMARY = "SELECT pg_wal_lsn_diff(pg_current_wal_flush_lsn(), '0/0')::bigint"

_REPLICA = """
SELECT pg_is_in_recovery() AS in_recovery,
       pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint AS replay_lsn,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0')::bigint AS receive_lsn,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS replay_age_s,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS paused
"""


async def primary_position(conn: asyncpg.Connection, timeout_s: float) -> int:
    """The primary's flushed WAL position (what a replica can have received)."""
    value: int = await conn.fetchval(_PRIMARY, timeout=timeout_s)
    return value


async def replica_probe(conn: asyncpg.Connection, timeout_s: float) -> ReplicaProbe:
    """What the read server says of its recovery (a primary answers in_recovery false)."""
    row = await conn.fetchrow(_REPLICA, timeout=timeout_s)
    assert row is not None
    return ReplicaProbe(
        in_recovery=row["in_recovery"],
        replay_lsn=row["replay_lsn"],
        receive_lsn=row["receive_lsn"],
        replay_age_s=row["replay_age_s"],
        paused=row["paused"],
    )
