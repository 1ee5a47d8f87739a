"""SQL, one module per table (and the Redis stream); no rule, no feature package above it."""
