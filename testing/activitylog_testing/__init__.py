"""Helpers the tests and the benchmarks share; installed in development only, never shipped."""
