"""The one retry policy: exponential backoff with equal jitter, honouring a provider's retry-after.

Equal jitter (half the ceiling fixed, half random) keeps a floor under each wait, so a retry storm cannot
collapse to near-zero delays, while still spreading clients apart.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts_max: int
    base_s: float
    cap_s: float

    def delay_s(self, attempt: int, retry_after_s: float | None, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt `attempt + 1`; a provider's retry-after wins, capped."""
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.cap_s)
        ceiling = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
        return (rng or random).uniform(ceiling / 2, ceiling)
