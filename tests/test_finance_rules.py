"""Pure finance rules: exact BDT parsing, the rate rounding rule, once-per-crossing thresholds, backoff."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import finance_domain as fd
from ledger.finance_domain import FinanceInputError
from ledger.payments import CardSettings, ChargeRequest, Declined, InvoicedCredit, LocalCard, default_providers


@pytest.mark.parametrize(
    ("text", "paisa"),
    [("1", 100), ("0.01", 1), ("12.5", 1250), ("12.50", 1250), ("250.75", 25075), ("007", 700), ("10000000", 10**9)],
)
def test_bdt_strings_convert_to_exact_paisa(text: str, paisa: int) -> None:
    assert fd.paisa_from_bdt(text) == paisa


@given(st.integers(min_value=1, max_value=fd.TOPUP_PAISA_MAX))
def test_paisa_render_as_the_bdt_decimal_they_were_parsed_from(paisa: int) -> None:
    text = fd.bdt_text(paisa)
    assert fd.paisa_from_bdt(text) == paisa and text[-3] == "."


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "0.00",
        "-1",
        "+1",
        "1.234",
        "1e3",
        "1,000",
        " 1",
        "1 ",
        "",
        ".5",
        "5.",
        "abc",
        "NaN",
        "Infinity",
        "1\x00",
        "١٢",
        "10000000.01",
        "9" * 33,
        "0x10",
    ],
)
def test_bad_bdt_strings_are_refused(text: str) -> None:
    with pytest.raises(FinanceInputError):
        fd.paisa_from_bdt(text)


@given(st.integers(1, fd.TOPUP_PAISA_MAX))
def test_every_paisa_amount_round_trips_through_its_decimal_string(paisa: int) -> None:
    assert fd.paisa_from_bdt(f"{paisa // 100}.{paisa % 100:02d}") == paisa


@pytest.mark.parametrize("value", [0, -5, True, 1.5, "100", None, fd.TOPUP_PAISA_MAX + 1])
def test_paisa_must_be_a_positive_integer_within_the_limit(value: object) -> None:
    with pytest.raises(FinanceInputError):
        fd.checked_paisa(value)


@given(st.integers(0, fd.TOPUP_PAISA_MAX), st.fractions(min_value=Fraction(1, 1000), max_value=10**6))
def test_tokens_at_a_rate_round_down_once_and_never_sell_an_unpaid_token(paisa: int, rate: Fraction) -> None:
    tokens = fd.tokens_at_rate(paisa, rate)
    exact = Fraction(paisa) * rate / 100
    assert isinstance(tokens, int)
    assert tokens <= exact < tokens + 1


@pytest.mark.parametrize(
    ("paisa", "rate", "tokens"),
    [
        (100, Fraction(500), 500),
        (1, Fraction(500), 5),
        (1, Fraction(1001, 2), 5),
        (3, Fraction(1, 3), 0),
        (300, Fraction(1, 3), 1),
        (12_345, Fraction(500), 61_725),
    ],
)
def test_tokens_at_rate_examples(paisa: int, rate: Fraction, tokens: int) -> None:
    assert fd.tokens_at_rate(paisa, rate) == tokens


@pytest.mark.parametrize(
    ("text", "value"), [("500", Fraction(500)), ("1001/2", Fraction(1001, 2)), ("0.25", Fraction(1, 4))]
)
def test_rates_parse_exactly(text: str, value: Fraction) -> None:
    assert fd.parse_rate(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "1/0", "1e9", "2000000", "1/3000000000", "abc", "", "1.5.5"])
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(FinanceInputError):
        fd.parse_rate(text)


def test_a_price_may_be_zero_but_never_negative() -> None:
    assert fd.parse_multiplier("0", what="input") == 0
    with pytest.raises(FinanceInputError):
        fd.parse_multiplier("-1", what="input")


@pytest.mark.parametrize(
    ("before", "after", "armed", "fired", "armed_after"),
    [
        (1000, 900, True, True, False),  # crosses 950 downward while armed: fires, disarms
        (950, 949, True, True, False),  # from exactly the threshold counts as from above
        (900, 800, False, False, False),  # already below and disarmed: nothing
        (900, 800, True, False, True),  # armed but never was at or above: no crossing
        (900, 1000, False, False, True),  # rises above: re-arms
        (900, 950, False, False, False),  # back to exactly the threshold: not above, stays disarmed
        (1000, 900, False, True, False),  # disarmed, but `before` shows it rose above unseen: a new crossing
        (1000, 960, True, False, True),  # a movement that stays above
    ],
)
def test_the_crossing_rule(before: int, after: int, armed: bool, fired: bool, armed_after: bool) -> None:
    assert fd.cross(before, after, 950, armed) == fd.Crossing(fired=fired, armed_after=armed_after)


balances = st.integers(-1000, 3000)


@given(st.integers(0, 2000), balances, st.lists(balances, min_size=1, max_size=60))
def test_a_threshold_fires_exactly_once_per_downward_crossing(threshold: int, start: int, path: list[int]) -> None:
    """Walk a balance path, movement by movement: firings equal the down-crossings after each rise above."""
    armed = start >= threshold
    fired = 0
    previous = start
    for balance in path:
        crossing = fd.cross(previous, balance, threshold, armed)
        fired += crossing.fired
        armed = crossing.armed_after
        previous = balance
    # The reference count: a crossing needs a visit at/above (armed) then a step below; re-arming needs a rise above.
    expected, can_fire, last = 0, start >= threshold, start
    for balance in path:
        can_fire = can_fire or last > threshold
        if can_fire and last >= threshold > balance:
            expected += 1
            can_fire = False
        can_fire = can_fire or balance > threshold
        last = balance
    assert fired == expected


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 10**9))
def test_many_small_steps_down_fire_once(start: int, threshold: int, step: int) -> None:
    armed, fired, balance = True, 0, start
    for _ in range(50):
        after = balance - step // 50 - 1
        crossing = fd.cross(balance, after, threshold, armed)
        fired += crossing.fired
        armed, balance = crossing.armed_after, after
    assert fired <= 1
    assert fired == (1 if start >= threshold > balance else 0)


@given(st.integers(0, 10**12), st.integers(1, 100))
def test_percent_thresholds_round_down(last_topup: int, percent: int) -> None:
    threshold = fd.percent_threshold_tokens(last_topup, percent)
    assert threshold == math.floor(Fraction(last_topup * percent, 100))
    assert fd.percent_threshold_tokens(None, percent) is None


def test_backoff_doubles_and_is_capped() -> None:
    assert [fd.retry_delay_s(n, base_s=30, max_s=300) for n in range(1, 7)] == [30, 60, 120, 240, 300, 300]


@given(
    st.integers(-(10**9), 10**9),
    st.integers(0, 10**9),
    st.integers(0, 10**9),
    st.integers(0, 10**9),
    st.integers(-(10**9), 10**9),
)
def test_the_statement_identity(opening: int, topups: int, debits: int, refunds: int, adjustments: int) -> None:
    closing = fd.closing_balance(opening, topups, debits, refunds, adjustments)
    assert closing - opening == topups - debits + refunds + adjustments


def test_finance_postings_balance() -> None:
    for postings in (
        fd.credit_postings("w", 10, source="receivable"),
        fd.debit_postings("w", 10, sink="adjustment"),
        fd.invoice_paid_postings("w", 10),
    ):
        assert sum(p.amount for p in postings) == 0


def charge(provider: InvoicedCredit | LocalCard, paisa: int, attempt: int = 1) -> object:
    return provider.charge(ChargeRequest("tu_x", "w", paisa, attempt))


def test_the_local_card_declines_on_demand() -> None:
    card = LocalCard(CardSettings())
    assert charge(card, 10_002) == Declined("card_declined: the card issuer refused the charge", retriable=False)
    assert isinstance(charge(card, 10_003, attempt=1), Declined)
    assert isinstance(charge(card, 10_003, attempt=2), Declined)
    assert not isinstance(charge(card, 10_003, attempt=3), Declined)
    assert all(isinstance(charge(card, 10_004, attempt=n), Declined) for n in range(1, 10))
    assert not isinstance(charge(card, 10_000), Declined)
    assert isinstance(charge(LocalCard(CardSettings(decline_all=True)), 10_000), Declined)


def test_an_unknown_payment_method_is_refused() -> None:
    with pytest.raises(FinanceInputError, match="unknown payment method"):
        default_providers().get("bitcoin")


def test_finance_settings_build_the_providers_and_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.finance_settings import FinanceSettings
    from ledger.payments import ChargeRequest

    monkeypatch.setenv("LUNTREX_FINANCE_CARD_DECLINE_ALL", "true")
    monkeypatch.setenv("LUNTREX_FINANCE_TOPUP_ATTEMPTS_MAX", "2")
    finance = FinanceSettings().finance()
    assert finance.policy.attempts_max == 2
    assert isinstance(finance.providers.get("card").charge(ChargeRequest("t", "w", 10_000, 1)), Declined)
