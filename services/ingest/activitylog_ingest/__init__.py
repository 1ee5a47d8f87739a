"""The ingest service: Redis stream → PostgreSQL (§5)."""
