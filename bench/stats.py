"""Percentiles of a bench's samples, by the two rank rules the benches report with.

Both rules pick one measured sample (no interpolation between two). They differ by one rank at most, but the
figures in README and bench/results were measured with them, so each bench keeps its own rule and stays
comparable with its earlier runs:
- "nearest" (`python -m bench webhook-delay`): the sample at rank round(q * (n - 1)), halves to even, as
  numpy's `percentile(method="nearest")`.
- "upper" (`python -m bench stream`): the sample at rank floor(q * n), the first one above the q * n lowest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Rule = Literal["nearest", "upper"]


def percentile(values: Sequence[float], q: float, *, rule: Rule) -> float:
    """The sample at quantile `q` (0..1) of `values` by `rule`; `values` must not be empty."""
    if not values:
        raise ValueError("a percentile of no samples")
    ordered = sorted(values)
    last = len(ordered) - 1
    rank = round(q * last) if rule == "nearest" else int(q * len(ordered))
    return ordered[min(last, rank)]
