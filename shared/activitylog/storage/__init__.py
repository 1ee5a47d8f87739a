"""SQL, one module per table; `unit_of_work` stores a batch across them in one transaction."""
