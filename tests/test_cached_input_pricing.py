"""Cache reads priced at the cached-input multiplier: the arithmetic, the hold bound, the recorded terms.

The rule: ceil((input - cached) * input_price + cached * cached_price + output * output_price), rounded up once.
When the cached price is the input price it is today's charge for every count, so nothing priced before moves.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import debits, domain
from schemas.catalogue import MULTIPLIER_MAX

prices = st.fractions(min_value=0, max_value=10, max_denominator=1000)
# Denominators no catalogue uses, primes among them, so a common-denominator mistake cannot hide.
odd_prices = st.fractions(min_value=0, max_value=MULTIPLIER_MAX, max_denominator=10**9 + 7)
token_counts = st.integers(min_value=0, max_value=10**7)
huge_counts = st.integers(min_value=0, max_value=2**62)


def exact_ceiling(tokens_in: int, tokens_out: int, cached: int, price: domain.Price) -> int:
    """The rule in Fractions: the reference the integer arithmetic must match."""
    return math.ceil((tokens_in - cached) * price.input + cached * price.cached_input + tokens_out * price.output)


@pytest.mark.parametrize(
    ("tokens_in", "tokens_out", "cached", "price", "charge"),
    [
        # No cache reads: the plain charge, whatever the cached price.
        (100, 50, 0, domain.Price(Fraction(1), Fraction(1), Fraction(1, 10)), 150),
        # Every input token a cache read.
        (100, 50, 100, domain.Price(Fraction(1), Fraction(1), Fraction(1, 10)), 10 + 50),
        # A tenth of the prompt at a tenth of the price: 90 + 1 + 50.
        (100, 50, 10, domain.Price(Fraction(1), Fraction(1), Fraction(1, 10)), 141),
        # Rounded once over the three parts: 2/3 + 1/4 + 0 = 11/12 costs one token, not three.
        (3, 0, 1, domain.Price(Fraction(1, 3), Fraction(1), Fraction(1, 4)), 1),
        (1, 1, 1, domain.Price(Fraction(1, 3), Fraction(1, 3), Fraction(1, 3)), 1),
        # Cached input free: only the uncached input and the output are billed.
        (1000, 7, 999, domain.Price(Fraction(3, 2), Fraction(4), Fraction(0)), math.ceil(Fraction(3, 2) + 28)),
        # A cached price above the input price (nobody sells that, but the book may hold it): billed as published.
        (10, 0, 10, domain.Price(Fraction(1), Fraction(1), Fraction(3)), 30),
        (0, 0, 0, domain.Price(Fraction(7), Fraction(9), Fraction(5)), 0),
    ],
)
def test_cache_reads_cost_the_cached_price_and_the_total_is_rounded_up_once(
    tokens_in: int, tokens_out: int, cached: int, price: domain.Price, charge: int
) -> None:
    assert domain.price_tokens(tokens_in, tokens_out, price, cached) == charge
    assert charge == exact_ceiling(tokens_in, tokens_out, cached, price)


@given(token_counts, token_counts, prices, prices, st.data())
def test_with_the_cached_price_at_the_input_price_every_charge_is_todays(
    tokens_in: int, tokens_out: int, price_in: Fraction, price_out: Fraction, data: st.DataObject
) -> None:
    cached = data.draw(st.integers(0, tokens_in))
    # An equal price that is another object too (as a price-book version's is), not only the same Fraction.
    same = data.draw(st.sampled_from([price_in, Fraction(price_in.numerator, price_in.denominator)]))

    today = domain.charge_tokens(tokens_in, tokens_out, price_in, price_out)

    assert domain.price_tokens(tokens_in, tokens_out, domain.Price(price_in, price_out, same), cached) == today
    assert domain.charge_tokens(tokens_in, tokens_out, price_in, price_out, cached, same) == today
    assert domain.charge_tokens(tokens_in, tokens_out, price_in, price_out, cached, None) == today


@pytest.mark.parametrize("tokens_in", [0, 1, 2, 3, 7, 999, 10**6 + 1, 2**40])
@pytest.mark.parametrize("tokens_out", [0, 1, 5, 4097, 2**33])
@pytest.mark.parametrize("price_in", [Fraction(0), Fraction(1), Fraction(1, 3), Fraction(3, 4), Fraction(7, 1000)])
@pytest.mark.parametrize("price_out", [Fraction(1), Fraction(5, 2), Fraction(2, 7)])
def test_equal_prices_give_todays_charge_for_every_share_of_cache_reads(
    tokens_in: int, tokens_out: int, price_in: Fraction, price_out: Fraction
) -> None:
    today = domain.charge_tokens(tokens_in, tokens_out, price_in, price_out)
    price = domain.Price(price_in, price_out, Fraction(price_in.numerator, price_in.denominator))
    for cached in {0, min(1, tokens_in), tokens_in // 3, tokens_in // 2, max(0, tokens_in - 1), tokens_in}:
        assert domain.price_tokens(tokens_in, tokens_out, price, cached) == today


@given(huge_counts, huge_counts, odd_prices, odd_prices, odd_prices, st.data())
def test_the_integer_arithmetic_is_the_exact_total_rounded_up_for_absurd_values(
    tokens_in: int,
    tokens_out: int,
    price_in: Fraction,
    price_out: Fraction,
    price_cached: Fraction,
    data: st.DataObject,
) -> None:
    cached = data.draw(st.integers(0, tokens_in))
    price = domain.Price(price_in, price_out, price_cached)
    exact = (tokens_in - cached) * price_in + cached * price_cached + tokens_out * price_out

    charge = domain.price_tokens(tokens_in, tokens_out, price, cached)

    assert isinstance(charge, int)
    assert charge == exact_ceiling(tokens_in, tokens_out, cached, price)
    assert exact <= charge < exact + 1


@given(prices, prices, prices)
def test_cache_reads_cheaper_than_input_never_cost_more(
    price_in: Fraction, price_out: Fraction, cheaper: Fraction
) -> None:
    price_cached = min(price_in, cheaper)
    price = domain.Price(price_in, price_out, price_cached)
    plain = domain.Price(price_in, price_out, price_in)
    for tokens_in, cached in ((100, 0), (100, 50), (100, 100), (7, 3)):
        assert domain.price_tokens(tokens_in, 9, price, cached) <= domain.price_tokens(tokens_in, 9, plain, cached)


def test_cache_reads_past_the_input_tokens_are_a_broken_call() -> None:
    with pytest.raises(AssertionError):
        domain.charge_tokens(5, 0, Fraction(1), Fraction(1), 6, Fraction(1, 10))
    with pytest.raises(AssertionError):
        domain.charge_tokens(5, 0, Fraction(1), Fraction(1), -1, Fraction(1, 10))


@given(token_counts, token_counts, prices, prices, prices, st.data())
def test_the_hold_covers_any_usage_and_any_share_of_cache_reads(
    estimate: int,
    max_tokens: int,
    price_in: Fraction,
    price_out: Fraction,
    price_cached: Fraction,
    data: st.DataObject,
) -> None:
    """A hold is an upper bound whichever price is dearer: it prices the estimate at the dearer input price."""
    used_in = data.draw(st.integers(0, estimate))
    used_out = data.draw(st.integers(0, max_tokens))
    cached = data.draw(st.integers(0, used_in))
    terms = {"m": domain.Terms(domain.Price(price_in, price_out, price_cached), 10**9, 10**9)}

    hold = domain.route_hold(estimate, max_tokens, terms)

    assert hold >= domain.price_tokens(used_in, used_out, terms["m"].price, cached)


def test_a_cheaper_cached_price_leaves_the_hold_as_it_was() -> None:
    cheap_cache = {"m": domain.Terms(domain.Price(Fraction(2), Fraction(3), Fraction(1, 5)), 10**6, 10**6)}
    no_cache_price = {"m": domain.Terms(domain.Price(Fraction(2), Fraction(3), Fraction(2)), 10**6, 10**6)}

    assert domain.route_hold(100, 10, cheap_cache) == domain.route_hold(100, 10, no_cache_price) == 230
    assert domain.hold_tokens(100, 10, Fraction(2), Fraction(3)) == 230


def test_a_dearer_cached_price_raises_the_hold_to_cover_a_prompt_read_wholly_from_cache() -> None:
    terms = {"m": domain.Terms(domain.Price(Fraction(1), Fraction(1), Fraction(5, 2)), 10**6, 10**6)}

    assert domain.route_hold(100, 10, terms) == 250 + 10
    assert domain.route_hold(100, 10, terms) >= domain.price_tokens(100, 10, terms["m"].price, 100)


def test_terms_recorded_with_the_cached_price_read_back_exactly() -> None:
    terms = {"m": domain.Terms(domain.Price(Fraction(3, 4), Fraction(2), Fraction(3, 40)), 1000, 100, 7)}

    record = json.loads(json.dumps(domain.terms_record(terms)))

    assert record["m"]["cached_input"] == "3/40"
    assert domain.terms_from_record(record) == terms


def test_terms_recorded_before_cache_reads_were_priced_read_them_at_the_input_price() -> None:
    """A job admitted by an older ledger (no `cached_input` in its terms) is billed exactly as before."""
    old = {"m": {"input": "3/4", "output": "2/1", "context_tokens": 1000, "max_output_tokens": 100}}

    [(model, terms)] = domain.terms_from_record(old).items()

    assert model == "m" and terms.price.cached_input == terms.price.input == Fraction(3, 4)
    for cached in range(11):
        assert domain.price_tokens(10, 5, terms.price, cached) == domain.charge_tokens(
            10, 5, Fraction(3, 4), Fraction(2)
        )


TERMS = {"m": domain.Terms(domain.Price(Fraction(1), Fraction(2), Fraction(1, 10)), 100_000, 4096)}


def usage(**overrides: object) -> debits.Usage:
    fields: dict[str, object] = {
        "job_id": "job_cached",
        "outcome": "completed",
        "model_id": "m",
        "provider": "openai",
        "input_tokens": 1000,
        "output_tokens": 10,
        "answer": "hi",
        "finish_reason": "stop",
        "error": None,
        "cached_input_tokens": 800,
    } | overrides
    return debits.Usage(**fields)  # type: ignore[arg-type]


def test_settlement_prices_the_cache_reads_and_says_at_what_price() -> None:
    priced = debits.price_usage(usage(), TERMS)

    assert priced.status == "completed"
    assert priced.priced_cost == 200 + 80 + 20
    assert priced.cached_input_tokens == 800
    assert priced.price is not None
    assert priced.price.model_dump() == {"input": "1/1", "output": "2/1", "cached_input": "1/10"}


def test_cache_reads_above_the_input_tokens_are_read_as_all_of_them() -> None:
    """As the answer shows such a detail: the whole prompt read from the cache, never a negative uncached part."""
    priced = debits.price_usage(usage(cached_input_tokens=5000), TERMS)

    assert priced.status == "completed" and priced.cached_input_tokens == 1000
    assert priced.priced_cost == 100 + 20


@pytest.mark.parametrize("outcome", ["failed", "expired"])
def test_a_job_that_did_not_complete_costs_nothing_whatever_its_cache_reads(outcome: str) -> None:
    priced = debits.price_usage(usage(outcome=outcome, cached_input_tokens=2**70), TERMS)

    assert (priced.priced_cost, priced.cached_input_tokens, priced.price) == (0, 0, None)


def test_a_usage_priced_past_a_bigint_at_the_cached_price_is_refused() -> None:
    dear_cache = {"m": domain.Terms(domain.Price(Fraction(0), Fraction(0), Fraction(2**62)), 100_000, 4096)}

    assert debits.price_usage(usage(cached_input_tokens=0), dear_cache).priced_cost == 0
    refused = debits.price_usage(usage(cached_input_tokens=10), dear_cache)

    assert refused.status == "failed" and refused.priced_cost == 0
    assert refused.error is not None and refused.error["code"] == "upstream_error"


def test_a_cache_read_count_outside_the_input_is_no_billable_usage() -> None:
    assert domain.usage_problem(10, 0, TERMS["m"], 11) is not None
    assert domain.usage_problem(10, 0, TERMS["m"], -1) is not None
    assert domain.usage_problem(10, 0, TERMS["m"], 10) is None
