"""Pure money rules: pricing, the one rounding rule, holds, overruns, sane amounts and every entry's postings.

No I/O here. Amounts are integers in credit tokens; prices and rates are exact `Fraction`s. The rules:
- one rounding rule (`charge_tokens`): the exact priced total (cache reads at the cached-input price), rounded up
  once;
- a hold is the worst case over every model of the route, at the terms recorded with the job (`route_hold`);
- usage above the hold is billed in full down to the floor; the rest is recorded unbilled (`settle_amounts`);
- what cannot be held or billed at all is refused by a named rule (`hold_problem`, `usage_problem`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache


class AccountKind(StrEnum):
    AVAILABLE = "available"
    HELD = "held"
    SPENT = "spent"
    FUNDING = "funding"


def account_id(workspace_id: str, kind: AccountKind) -> str:
    return f"ws:{workspace_id}:{kind.value}"


@dataclass(frozen=True, slots=True)
class Posting:
    account_id: str
    amount: int


# Every amount the book stores is a PostgreSQL bigint: anything at or past this is refused before it is written.
AMOUNT_MAX = 2**63 - 1
# Usage this many times over a model's limits is no usage at all but a broken provider answer.
ABSURD_USAGE_FACTOR = 100


@dataclass(frozen=True, slots=True)
class Price:
    """The multipliers of one model, in credit tokens per provider token.

    `cached_input` prices the input tokens the provider read from its prompt cache (a part of the input tokens);
    the rest of the input is priced at `input`. Where no cached price was set it is the input price.
    """

    input: Fraction
    output: Fraction
    cached_input: Fraction

    @property
    def input_bound(self) -> Fraction:
        """The dearest an input token can be (cached or not): what a hold prices the input estimate at."""
        # Identity first: most terms share one Fraction for both (no cached price set), and comparing is dearer.
        if self.cached_input is self.input or self.cached_input <= self.input:
            return self.input
        return self.cached_input


@dataclass(frozen=True, slots=True)
class Terms:
    """What a job was admitted under for one model of its route: its price and its limits.

    Recorded with the job at admission and used at settlement, so a catalogue change applies to new jobs only.
    """

    price: Price
    context_tokens: int
    max_output_tokens: int
    # The price-book version the price came from (None: the catalogue's price, the book had none).
    price_version_id: int | None = None


def fraction_text(value: Fraction) -> str:
    """An exact rational as stored: always "n/d", so a reader never has to guess a decimal's precision."""
    return f"{value.numerator}/{value.denominator}"


def terms_record(terms: dict[str, Terms]) -> dict[str, dict[str, str | int]]:
    """The JSON stored with a job (and its hold entry): per model, the exact multipliers (input, output, cached
    input) and the limits, and the price-book version they came from when there was one."""
    return {model_id: _term_record(t) for model_id, t in terms.items()}


def _term_record(t: Terms) -> dict[str, str | int]:
    record: dict[str, str | int] = {
        "input": fraction_text(t.price.input),
        "output": fraction_text(t.price.output),
        "cached_input": fraction_text(t.price.cached_input),
        "context_tokens": t.context_tokens,
        "max_output_tokens": t.max_output_tokens,
    }
    if t.price_version_id is not None:
        record["price_version_id"] = t.price_version_id
    return record


@lru_cache(maxsize=4096)
def fraction_of(text: str) -> Fraction:
    """A stored multiplier ("n/d") read back; cached, since every settlement reads the same few prices and
    parsing a Fraction from text costs more than the rest of pricing a job (Fractions are immutable)."""
    return Fraction(text)


def terms_from_record(record: dict[str, dict[str, str | int]]) -> dict[str, Terms]:
    """Recorded terms read back. Terms recorded before cached input was priced apart have no `cached_input`: their
    cache reads cost the input price, so such a job is billed exactly as it was held."""
    return {model_id: _term_from_record(t) for model_id, t in record.items()}


def _term_from_record(t: dict[str, str | int]) -> Terms:
    price_in = fraction_of(str(t["input"]))
    cached = t.get("cached_input")
    return Terms(
        price=Price(
            price_in, fraction_of(str(t["output"])), fraction_of(str(cached)) if cached is not None else price_in
        ),
        context_tokens=int(t["context_tokens"]),
        max_output_tokens=int(t["max_output_tokens"]),
        price_version_id=int(t["price_version_id"]) if t.get("price_version_id") is not None else None,
    )


def charge_tokens(
    tokens_in: int,
    tokens_out: int,
    price_in: Fraction,
    price_out: Fraction,
    tokens_cached: int = 0,
    price_cached: Fraction | None = None,
) -> int:
    """The one rounding rule: the exact priced total, rounded up to a whole credit token.

    `tokens_cached` of the `tokens_in` were read from the provider's prompt cache and cost `price_cached` each
    (default: the input price); the other input tokens cost `price_in`. Rounding the total once (not each part)
    keeps the error below one token per call.
    """
    assert tokens_out >= 0 and 0 <= tokens_cached <= tokens_in, "token counts are never negative, cache reads <= input"
    # ceil(tokens_in * price_in + tokens_out * price_out), in integers over the common denominator: the same exact
    # value and the same rounding, ten times cheaper than Fraction arithmetic (priced several times per job).
    in_n, in_d = price_in.numerator, price_in.denominator
    out_n, out_d = price_out.numerator, price_out.denominator
    if tokens_cached == 0 or price_cached is None:
        return -(-(tokens_in * in_n * out_d + tokens_out * out_n * in_d) // (in_d * out_d))
    # With cache reads: ceil((in - cached) * price_in + cached * price_cached + out * price_out), the same way over
    # the product of the three denominators (another common denominator: the same exact value, the same ceiling).
    cached_n, cached_d = price_cached.numerator, price_cached.denominator
    numerator = (
        (tokens_in - tokens_cached) * in_n * out_d * cached_d
        + tokens_cached * cached_n * in_d * out_d
        + tokens_out * out_n * in_d * cached_d
    )
    return -(-numerator // (in_d * out_d * cached_d))


def price_tokens(tokens_in: int, tokens_out: int, price: Price, tokens_cached: int = 0) -> int:
    """A usage priced at a model's multipliers (`charge_tokens`, its cache reads at the cached-input price)."""
    return charge_tokens(tokens_in, tokens_out, price.input, price.output, tokens_cached, price.cached_input)


def hold_tokens(input_estimate: int, max_output_tokens: int, price_in: Fraction, price_out: Fraction) -> int:
    """Credit held at admission: the worst case of the estimate plus every allowed output token."""
    return charge_tokens(input_estimate, max_output_tokens, price_in, price_out)


def price_hold(input_estimate: int, max_output_tokens: int, price: Price) -> int:
    """A hold at a model's multipliers: every input token of the estimate at the dearer of the input and the
    cached-input price (whatever part the provider reads from its cache, the hold covers it)."""
    return hold_tokens(input_estimate, max_output_tokens, price.input_bound, price.output)


def route_hold(input_estimate: int, max_output_tokens: int, terms: dict[str, Terms]) -> int:
    """The most a job can cost on any model of its route (a fallback may answer), at the recorded prices."""
    return max(price_hold(input_estimate, max_output_tokens, t.price) for t in terms.values())


def hold_problem(input_estimate: int, max_output_tokens: int, terms: dict[str, Terms]) -> str | None:
    """Why a submitted job cannot be held at all (negative bounds, an amount past a bigint), or None."""
    if input_estimate < 0 or max_output_tokens < 0:
        return f"negative token bounds (input {input_estimate}, max_tokens {max_output_tokens})"
    if not terms:
        return "the job names no model to price"
    if route_hold(input_estimate, max_output_tokens, terms) > AMOUNT_MAX:
        return "the hold is beyond what the book can record"
    return None


def usage_problem(tokens_in: int, tokens_out: int, terms: Terms, tokens_cached: int = 0) -> str | None:
    """Why a reported usage cannot be billed (negative, past a bigint, absurd for the model), or None.

    Absurd means more than ABSURD_USAGE_FACTOR times the model's context or output limit: no real call gets
    there, so the provider's answer is broken and the job fails rather than bill a made-up number.
    """
    if tokens_in < 0 or tokens_out < 0:
        return f"negative token counts (input {tokens_in}, output {tokens_out})"
    if tokens_in > AMOUNT_MAX or tokens_out > AMOUNT_MAX:
        return "token counts beyond what the book can record"
    if tokens_in > ABSURD_USAGE_FACTOR * terms.context_tokens or tokens_out > (
        ABSURD_USAGE_FACTOR * terms.max_output_tokens
    ):
        return (
            f"token counts (input {tokens_in}, output {tokens_out}) beyond the model's limits "
            f"(context {terms.context_tokens}, output {terms.max_output_tokens}) by orders of magnitude"
        )
    if not 0 <= tokens_cached <= tokens_in:
        return f"cache reads ({tokens_cached}) outside the input tokens ({tokens_in})"
    if price_tokens(tokens_in, tokens_out, terms.price, tokens_cached) > AMOUNT_MAX:
        return "the priced usage is beyond what the book can record"
    return None


def tokens_for_paisa(amount_paisa: int, tokens_per_bdt: int) -> int:
    """Credit tokens bought by a top-up in paisa (1 BDT = 100 paisa); fractions of a token are not sold."""
    assert amount_paisa >= 0
    return (amount_paisa * tokens_per_bdt) // 100


@dataclass(frozen=True, slots=True)
class Settlement:
    """How a job's priced cost was billed.

    `cost_tokens` is what was charged, `overrun_tokens` the part of it beyond the hold (already inside
    `cost_tokens`), `unbilled_tokens` what could not be charged because even the credit line was used up.
    Always `cost_tokens + unbilled_tokens == priced cost`.
    """

    cost_tokens: int
    overrun_tokens: int
    unbilled_tokens: int


def settle_amounts(hold: int, priced_cost: int, available: int, available_floor: int) -> Settlement:
    """The overrun rule: usage above the hold is billed in full, never silently capped at the hold.

    The hold pays first. What it does not cover (a provider billing more than the prompt ceiling plus
    `max_tokens`) is charged from the available balance, as far down as the account's floor (minus the
    credit line), and recorded as an overrun on the job and in the debit's detail. Only what even the floor
    cannot cover is left unbilled, and recorded as such (`jobs.uncharged_tokens`, detail `unbilled_tokens`):
    the book never goes below a floor, and never hides a token it could not charge.
    """
    assert hold >= 0 and priced_cost >= 0
    room_below_hold = max(0, available - available_floor)
    charged = min(priced_cost, hold + room_below_hold)
    return Settlement(cost_tokens=charged, overrun_tokens=max(0, charged - hold), unbilled_tokens=priced_cost - charged)


def grant_postings(workspace_id: str, tokens: int) -> list[Posting]:
    assert tokens > 0
    return [
        Posting(account_id(workspace_id, AccountKind.FUNDING), -tokens),
        Posting(account_id(workspace_id, AccountKind.AVAILABLE), tokens),
    ]


def hold_postings(workspace_id: str, hold: int) -> list[Posting]:
    """Available to held. A hold of zero (a route priced at zero) moves nothing and writes no entry."""
    assert hold >= 0
    if hold == 0:
        return []
    return [
        Posting(account_id(workspace_id, AccountKind.AVAILABLE), -hold),
        Posting(account_id(workspace_id, AccountKind.HELD), hold),
    ]


def settle_postings(workspace_id: str, hold: int, cost: int) -> list[Posting]:
    """Release the hold: the cost goes to spent, the rest back to available. Zero legs are left out.

    A cost above the hold (an overrun) makes the available leg negative: the overrun comes out of available.
    """
    assert hold >= 0 and cost >= 0
    legs = [
        Posting(account_id(workspace_id, AccountKind.HELD), -hold),
        Posting(account_id(workspace_id, AccountKind.SPENT), cost),
        Posting(account_id(workspace_id, AccountKind.AVAILABLE), hold - cost),
    ]
    return [leg for leg in legs if leg.amount != 0]


def is_balanced(postings: list[Posting]) -> bool:
    return sum(posting.amount for posting in postings) == 0
