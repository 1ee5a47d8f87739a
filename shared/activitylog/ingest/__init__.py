"""The stream consumer: batched reads and claims, one commit per batch, acknowledged after
it (README, "How ingest keeps its promise"), and consumer-name leases."""
