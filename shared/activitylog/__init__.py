"""Shared core of the lead activity log: event contract, settings, storage and stream helpers."""
