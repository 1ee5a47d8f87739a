"""Settings of the fault tests."""

from __future__ import annotations

import pytest

from activitylog.runtime.settings import Settings


@pytest.fixture
def fault_settings(settings: Settings) -> Settings:
    """Stream-processing settings of the fault tests (fast claims, fast retries)."""
    return settings.model_copy(
        update={
            "retry_backoff_initial_s": 0.2,
            "retry_backoff_max_s": 1.0,
            "retry_poll_interval_s": 0.2,
        }
    )
