"""Lead identity rules without a database: how an upsert resolves, how CSV exports read."""
