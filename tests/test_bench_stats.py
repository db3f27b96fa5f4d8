"""The benches' shared percentile picks the same samples the stream and webhook-delay benches reported before it.

Published figures (README, bench/results) were measured with each bench's own rule, so a changed rank would make
a new run quietly incomparable with an old one.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import stats

SAMPLES = st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=300)
QUANTILES = st.sampled_from([0.5, 0.9, 0.99])


def _webhook_delay_before(values: list[float], q: float) -> float:
    """bench/webhook_delay.py's `_percentile` as it was."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _stream_before(values: list[float], q: float) -> float:
    """bench/streaming.py's p90 and p99 as they were."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@given(SAMPLES, QUANTILES)
def test_the_nearest_rule_is_the_webhook_delay_benchs(values: list[float], q: float) -> None:
    assert stats.percentile(values, q, rule="nearest") == _webhook_delay_before(values, q)


@given(SAMPLES, QUANTILES)
def test_the_upper_rule_is_the_stream_benchs(values: list[float], q: float) -> None:
    assert stats.percentile(values, q, rule="upper") == _stream_before(values, q)


def test_the_two_rules_on_a_default_run_of_200_samples() -> None:
    values = [float(i) for i in reversed(range(200))]
    assert [stats.percentile(values, q, rule="nearest") for q in (0.5, 0.9, 0.99)] == [100.0, 179.0, 197.0]
    assert [stats.percentile(values, q, rule="upper") for q in (0.5, 0.9, 0.99)] == [100.0, 180.0, 198.0]


def test_a_half_rank_rounds_to_even_and_one_sample_is_every_percentile() -> None:
    assert stats.percentile([4.0, 1.0, 3.0, 2.0], 0.5, rule="nearest") == 3.0  # rank 1.5 -> 2
    assert stats.percentile([1.0, 2.0], 0.5, rule="nearest") == 1.0  # rank 0.5 -> 0
    assert {stats.percentile([7.5], q, rule=rule) for q in (0.5, 0.99) for rule in ("nearest", "upper")} == {7.5}


def test_no_sample_has_no_percentile() -> None:
    with pytest.raises(ValueError, match="no samples"):
        stats.percentile([], 0.5, rule="upper")
