"""Money rules: one rounding rule, holds that cover any allowed usage, balanced postings, and safe input estimates."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakeprovider.tokens import count_prompt_tokens
from ingress.estimate import input_tokens_ceiling
from ledger import domain, pricing
from ledger.domain import AccountKind, Posting
from schemas.catalogue import Catalogue, parse_catalogue
from schemas.events import ChatJobSubmitted, ChatParameters, PromptMessage, UsageRecorded

prices = st.fractions(min_value=0, max_value=10, max_denominator=1000)
token_counts = st.integers(min_value=0, max_value=10**7)
positive_amounts = st.integers(min_value=1, max_value=10**12)


@pytest.mark.parametrize(
    ("tokens_in", "tokens_out", "price_in", "price_out", "charge"),
    [
        (3, 1, Fraction(1, 3), Fraction(1, 3), 2),
        (1, 1, Fraction(1, 2), Fraction(1, 2), 1),
        # Rounded once: each side alone would round up to 1, together they are 2/3 and cost one token.
        (1, 1, Fraction(1, 3), Fraction(1, 3), 1),
        (0, 0, Fraction(7), Fraction(9), 0),
        (1, 0, Fraction(1, 1000), Fraction(5), 1),
        (100, 50, Fraction(1), Fraction(1), 150),
        (100, 50, Fraction(3, 2), Fraction(4), 350),
        (10, 10, Fraction(0), Fraction(0), 0),
    ],
)
def test_charge_rounds_the_exact_total_up_once(
    tokens_in: int, tokens_out: int, price_in: Fraction, price_out: Fraction, charge: int
) -> None:
    assert domain.charge_tokens(tokens_in, tokens_out, price_in, price_out) == charge


@given(token_counts, token_counts, prices, prices)
def test_charge_is_the_exact_total_rounded_up_and_never_negative(
    tokens_in: int, tokens_out: int, price_in: Fraction, price_out: Fraction
) -> None:
    exact = tokens_in * price_in + tokens_out * price_out
    charge = domain.charge_tokens(tokens_in, tokens_out, price_in, price_out)

    assert isinstance(charge, int)
    assert charge >= 0
    assert exact <= charge < exact + 1


@given(token_counts, token_counts, prices, prices, st.data())
def test_the_hold_covers_any_usage_within_the_estimate_and_max_tokens(
    estimate: int, max_tokens: int, price_in: Fraction, price_out: Fraction, data: st.DataObject
) -> None:
    used_in = data.draw(st.integers(0, estimate))
    used_out = data.draw(st.integers(0, max_tokens))

    hold = domain.hold_tokens(estimate, max_tokens, price_in, price_out)

    assert hold >= domain.charge_tokens(used_in, used_out, price_in, price_out)


@given(st.integers(0, 10**12), st.integers(0, 10**12))
def test_settling_never_charges_above_the_hold_and_records_the_overrun(hold: int, priced_cost: int) -> None:
    settlement = domain.settle_amounts(hold, priced_cost)

    assert 0 <= settlement.cost_tokens <= hold
    assert settlement.cost_tokens + settlement.uncharged_tokens == priced_cost
    assert settlement.uncharged_tokens == max(0, priced_cost - hold)


def test_settling_examples() -> None:
    assert domain.settle_amounts(100, 40) == domain.Settlement(cost_tokens=40, uncharged_tokens=0)
    assert domain.settle_amounts(100, 100) == domain.Settlement(cost_tokens=100, uncharged_tokens=0)
    assert domain.settle_amounts(100, 130) == domain.Settlement(cost_tokens=100, uncharged_tokens=30)


def assert_well_formed(postings: list[Posting]) -> None:
    accounts = [posting.account_id for posting in postings]
    assert domain.is_balanced(postings)
    assert sum(posting.amount for posting in postings) == 0
    assert len(accounts) == len(set(accounts)), f"an account is posted twice: {accounts}"
    assert all(posting.amount != 0 for posting in postings)


workspaces = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=20)


@given(workspaces, positive_amounts)
def test_a_grant_moves_funding_to_available(workspace_id: str, tokens: int) -> None:
    postings = domain.grant_postings(workspace_id, tokens)

    assert_well_formed(postings)
    assert set(postings) == {
        Posting(domain.account_id(workspace_id, AccountKind.FUNDING), -tokens),
        Posting(domain.account_id(workspace_id, AccountKind.AVAILABLE), tokens),
    }


@given(workspaces, positive_amounts)
def test_a_hold_moves_available_to_held(workspace_id: str, hold: int) -> None:
    postings = domain.hold_postings(workspace_id, hold)

    assert_well_formed(postings)
    assert set(postings) == {
        Posting(domain.account_id(workspace_id, AccountKind.AVAILABLE), -hold),
        Posting(domain.account_id(workspace_id, AccountKind.HELD), hold),
    }


@given(workspaces, positive_amounts, st.data())
def test_settling_releases_the_whole_hold_to_spent_and_available(
    workspace_id: str, hold: int, data: st.DataObject
) -> None:
    cost = data.draw(st.one_of(st.just(0), st.just(hold), st.integers(0, hold)))

    postings = domain.settle_postings(workspace_id, hold, cost)

    assert_well_formed(postings)
    by_account = {posting.account_id: posting.amount for posting in postings}
    assert by_account[domain.account_id(workspace_id, AccountKind.HELD)] == -hold
    assert by_account.get(domain.account_id(workspace_id, AccountKind.SPENT), 0) == cost
    assert by_account.get(domain.account_id(workspace_id, AccountKind.AVAILABLE), 0) == hold - cost


@given(workspaces, positive_amounts, st.data())
def test_a_hold_then_its_settlement_leaves_nothing_held(workspace_id: str, hold: int, data: st.DataObject) -> None:
    cost = data.draw(st.integers(0, hold))
    totals: dict[str, int] = {}

    for posting in [*domain.hold_postings(workspace_id, hold), *domain.settle_postings(workspace_id, hold, cost)]:
        totals[posting.account_id] = totals.get(posting.account_id, 0) + posting.amount

    assert totals.get(domain.account_id(workspace_id, AccountKind.HELD), 0) == 0
    assert totals.get(domain.account_id(workspace_id, AccountKind.SPENT), 0) == cost
    assert totals.get(domain.account_id(workspace_id, AccountKind.AVAILABLE), 0) == -cost


def test_accounts_of_different_workspaces_differ() -> None:
    assert domain.account_id("a", AccountKind.HELD) != domain.account_id("b", AccountKind.HELD)
    assert domain.account_id("a", AccountKind.HELD) != domain.account_id("a", AccountKind.SPENT)


@pytest.mark.parametrize(
    ("amount_paisa", "tokens_per_bdt", "tokens"),
    [(100, 500, 500), (150, 500, 750), (1, 500, 5), (1, 33, 0), (199, 1, 1), (0, 500, 0), (10_000, 500, 50_000)],
)
def test_tokens_for_paisa(amount_paisa: int, tokens_per_bdt: int, tokens: int) -> None:
    assert domain.tokens_for_paisa(amount_paisa, tokens_per_bdt) == tokens


@given(st.integers(0, 10**12), st.integers(1, 10**6))
def test_tokens_for_paisa_floors_and_never_sells_more_than_paid(amount_paisa: int, tokens_per_bdt: int) -> None:
    tokens = domain.tokens_for_paisa(amount_paisa, tokens_per_bdt)

    assert tokens == math.floor(Fraction(amount_paisa * tokens_per_bdt, 100))
    assert tokens * 100 <= amount_paisa * tokens_per_bdt < (tokens + 1) * 100


PRICED_CATALOGUE = """
default_model = "cheap/a"
[providers.openai]
kind = "openai"
base_url = "https://api.openai.com/v1"
[[models]]
id = "cheap/a"
provider = "openai"
upstream = "a"
pool = "openai"
input_multiplier = "1"
output_multiplier = "1"
max_output_tokens = 1000
default_max_tokens = 100
context_tokens = 10000
fallbacks = ["dear/b"]
[[models]]
id = "dear/b"
provider = "openai"
upstream = "b"
pool = "openai"
input_multiplier = "2"
output_multiplier = "5/2"
max_output_tokens = 1000
default_max_tokens = 100
context_tokens = 10000
"""


@pytest.fixture(scope="module")
def priced() -> Catalogue:
    return parse_catalogue(PRICED_CATALOGUE)


def submitted(*, route: tuple[str, ...], input_tokens_estimate: int = 10, max_tokens: int = 100) -> ChatJobSubmitted:
    return ChatJobSubmitted(
        workspace_id="ws_money",
        job_id="job_money",
        api_key_id="key_money",
        model_id=route[0],
        route=route,
        input_tokens_estimate=input_tokens_estimate,
        params=ChatParameters(messages=(PromptMessage(role="user", content="hi"),), max_tokens=max_tokens),
    )


def test_the_hold_is_priced_at_the_model(priced: Catalogue) -> None:
    assert pricing.hold_for(priced, submitted(route=("cheap/a",))) == 10 + 100


def test_a_dearer_fallback_raises_the_hold(priced: Catalogue) -> None:
    hold = pricing.hold_for(priced, submitted(route=("cheap/a", "dear/b")))

    assert hold == 10 * 2 + 100 * 5 // 2


def test_the_hold_is_the_same_whichever_order_the_route_lists_the_models(priced: Catalogue) -> None:
    assert pricing.hold_for(priced, submitted(route=("dear/b", "cheap/a"))) == pricing.hold_for(
        priced, submitted(route=("cheap/a", "dear/b"))
    )


def test_usage_is_priced_at_the_model_that_answered(priced: Catalogue) -> None:
    usage = UsageRecorded(
        workspace_id="ws_money",
        job_id="job_money",
        outcome="completed",
        model_id="dear/b",
        provider="openai",
        input_tokens=3,
        output_tokens=3,
    )

    assert pricing.cost_of(priced, usage) == math.ceil(3 * 2 + 3 * Fraction(5, 2))


def test_a_failed_job_costs_nothing(priced: Catalogue) -> None:
    usage = UsageRecorded(workspace_id="ws_money", job_id="job_money", outcome="failed", input_tokens=5)

    assert pricing.cost_of(priced, usage) == 0


# Every code point Hypothesis can encode, plus runs of emoji, combining marks and whitespace, which are
# where byte counts and word counts drift apart most.
prompt_texts = st.one_of(
    st.text(),
    st.lists(st.sampled_from(["😀", "👩‍👩‍👧", "é", "\u0301", "字", " ", "\t", "\n", "a", "\u3000"])).map("".join),
    st.text(alphabet=st.sampled_from(["a", " "])),
)


@given(st.lists(prompt_texts, max_size=8))
def test_the_input_ceiling_is_never_below_the_fake_providers_count(texts: list[str]) -> None:
    assert input_tokens_ceiling(texts) >= count_prompt_tokens(texts)


@pytest.mark.parametrize("texts", [[], [""], ["a a a a a"], ["😀 😀"], ["\u3000".join("abc")], [" "] * 8])
def test_the_input_ceiling_examples(texts: list[str]) -> None:
    assert input_tokens_ceiling(texts) >= count_prompt_tokens(texts)
