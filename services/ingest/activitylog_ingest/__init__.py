"""The ingest service: Redis stream → PostgreSQL."""
