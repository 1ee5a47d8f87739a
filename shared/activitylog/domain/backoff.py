"""The one back-off rule: capped exponential delays with equal jitter (pure)."""

from __future__ import annotations

import random


def jittered_delay(initial: float, maximum: float, attempt: int) -> float:
    """The delay before try `attempt` + 1 (0-based): initial·2ⁿ capped at `maximum`, drawn
    from [d/2, d] so retrying replicas spread out."""
    ceiling = min(maximum, initial * (2**attempt))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not crypto
