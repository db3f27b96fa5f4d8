"""Pure finance rules: money input, the rate rounding rule, thresholds crossed once, retry backoff, statements.

No I/O here. Money is integer paisa (1 BDT = 100 paisa), credit is integer tokens, rates and prices are exact
`Fraction`s. Every limit has a name; input past one is refused with a `FinanceInputError` saying which.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from ledger.domain import Posting

# The largest single top-up: 10 million BDT. Larger is not a top-up but a typo (or an attack on a bigint).
TOPUP_PAISA_MAX = 10_000_000 * 100
# A decimal amount longer than this is refused before it is parsed (no megabyte-long digit strings).
AMOUNT_TEXT_CHARS_MAX = 32
# Exchange rates: credit tokens per BDT, at most this many, with a denominator at most this big.
RATE_TOKENS_PER_BDT_MAX = 1_000_000
RATIONAL_DENOMINATOR_MAX = 1_000_000_000
# Price multipliers: credit tokens per provider token.
PRICE_MULTIPLIER_MAX = 100_000
# Thresholds and adjustments in tokens: far above anything a top-up can buy, far below a bigint.
TOKENS_MAX = 10**15
REASON_CHARS_MAX = 500
PAISA_PER_BDT = 100

_DECIMAL_BDT = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]{1,2}))?")


class FinanceInputError(ValueError):
    """Input a finance operation refuses (bad amount, rate, price, threshold, method); nothing was written."""


def paisa_from_bdt(text: str) -> int:
    """Exact paisa of a BDT decimal string ("12", "12.5", "12.50"); at most two places, no sign, no exponent."""
    if not isinstance(text, str):
        raise FinanceInputError("amount_bdt must be a decimal string such as '250.00'")
    if len(text) > AMOUNT_TEXT_CHARS_MAX:
        raise FinanceInputError(f"amount_bdt is longer than {AMOUNT_TEXT_CHARS_MAX} characters")
    match = _DECIMAL_BDT.fullmatch(text)
    if match is None:
        raise FinanceInputError(
            f"amount_bdt {text!r} is not a positive decimal with at most two places (such as '250' or '250.75')"
        )
    fraction = (match["fraction"] or "").ljust(2, "0")
    return checked_paisa(int(match["whole"]) * PAISA_PER_BDT + int(fraction or "0"))


def bdt_text(amount_paisa: int) -> str:
    """The BDT decimal of an amount in paisa, always with two places ("250.50"): the inverse of `paisa_from_bdt`."""
    whole, fraction = divmod(amount_paisa, PAISA_PER_BDT)
    return f"{whole}.{fraction:02d}"


def checked_paisa(amount_paisa: object) -> int:
    """An amount in paisa as a top-up accepts it: an integer from 1 to TOPUP_PAISA_MAX."""
    if isinstance(amount_paisa, bool) or not isinstance(amount_paisa, int):
        raise FinanceInputError("amount_paisa must be an integer number of paisa")
    if amount_paisa <= 0:
        raise FinanceInputError("the amount must be above zero")
    if amount_paisa > TOPUP_PAISA_MAX:
        raise FinanceInputError(f"the amount is above the largest top-up ({TOPUP_PAISA_MAX // PAISA_PER_BDT} BDT)")
    return amount_paisa


def parse_rational(text: str, *, what: str, maximum: int, allow_zero: bool) -> Fraction:
    """An exact rational from "500", "1001/2" or "0.25"; bounded, never a float."""
    if not isinstance(text, str) or len(text) > AMOUNT_TEXT_CHARS_MAX or not re.fullmatch(r"[0-9./]+", text):
        raise FinanceInputError(f"{what} must be an exact rational such as '500', '1001/2' or '0.25'")
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError) as exc:
        raise FinanceInputError(f"{what} {text!r} is not an exact rational") from exc
    if value < 0 or (value == 0 and not allow_zero):
        raise FinanceInputError(f"{what} must be above zero")
    if value > maximum or value.denominator > RATIONAL_DENOMINATOR_MAX:
        raise FinanceInputError(f"{what} is beyond its limit ({maximum}, denominator {RATIONAL_DENOMINATOR_MAX})")
    return value


def parse_rate(text: str) -> Fraction:
    return parse_rational(text, what="tokens_per_bdt", maximum=RATE_TOKENS_PER_BDT_MAX, allow_zero=False)


def parse_multiplier(text: str, *, what: str) -> Fraction:
    return parse_rational(text, what=what, maximum=PRICE_MULTIPLIER_MAX, allow_zero=True)


def tokens_at_rate(amount_paisa: int, tokens_per_bdt: Fraction) -> int:
    """The top-up rounding rule: the exact tokens bought, rounded DOWN to a whole token.

    A fraction of a token is never sold: the buyer gets every whole token paid for, and the platform never
    credits a token nobody paid for. Rounded once, on the exact product, so the loss is below one token.
    """
    assert amount_paisa >= 0 and tokens_per_bdt > 0
    return math.floor(amount_paisa * tokens_per_bdt / PAISA_PER_BDT)


def fraction_text(value: Fraction) -> str:
    """The one stored and displayed form of a rational: "n/d" (or "n" when whole)."""
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def checked_tokens(value: object, *, what: str, allow_negative: bool = False, allow_zero: bool = True) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FinanceInputError(f"{what} must be an integer number of tokens")
    if value < 0 and not allow_negative:
        raise FinanceInputError(f"{what} cannot be below zero")
    if value == 0 and not allow_zero:
        raise FinanceInputError(f"{what} cannot be zero")
    if abs(value) > TOKENS_MAX:
        raise FinanceInputError(f"{what} is beyond {TOKENS_MAX} tokens")
    return value


def checked_reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise FinanceInputError("a reason is required")
    if len(reason) > REASON_CHARS_MAX or not reason.isprintable():
        raise FinanceInputError(f"the reason must be printable text of at most {REASON_CHARS_MAX} characters")
    return reason


@dataclass(frozen=True, slots=True)
class Crossing:
    """What one balance movement does to one threshold: whether it fires, and whether it is armed afterwards."""

    fired: bool
    armed_after: bool


def cross(before: int, after: int, threshold: int, armed: bool) -> Crossing:
    """The once-per-downward-crossing rule.

    Fires when the balance moves from at or above the threshold to below it while armed; firing disarms it.
    It re-arms only once the balance is seen above the threshold again (`after`, or `before` when the rise was
    a movement nobody reported, such as a grant). A balance that only returns to the threshold exactly does
    not re-arm it.
    """
    armed_now = armed or before > threshold
    fired = armed_now and before >= threshold > after
    return Crossing(fired=fired, armed_after=after > threshold or (armed_now and not fired))


def percent_threshold_tokens(last_topup_tokens: int | None, percent: int) -> int | None:
    """A percent-of-last-top-up threshold in tokens, rounded down; None before the first top-up."""
    assert 1 <= percent <= 100
    if last_topup_tokens is None:
        return None
    return last_topup_tokens * percent // 100


def retry_delay_s(attempt: int, *, base_s: float, max_s: float) -> float:
    """Backoff before retry number `attempt` (1-based) of a failed payment: doubling from base_s, capped."""
    assert attempt >= 1
    return float(min(max_s, base_s * 2 ** (attempt - 1)))


# How each journal entry kind moves a workspace's balance (available + held), as a statement shows it.
STATEMENT_BUCKETS = {
    "grant": "topups",
    "topup": "topups",
    "debit": "debits",
    "refund": "refunds",
    "adjustment": "adjustments",
}


def statement_bucket(kind: str) -> str:
    """The statement line an entry kind belongs to; holds, releases and invoice payments net to zero there."""
    return STATEMENT_BUCKETS.get(kind, "other")


def closing_balance(opening: int, topups: int, debits: int, refunds: int, adjustments: int) -> int:
    """The statement identity: opening + top-ups - debits + refunds +/- adjustments = closing."""
    return opening + topups - debits + refunds + adjustments


def account(workspace_id: str, kind: str) -> str:
    """A workspace's account id by kind, the four of `domain` and the finance ones (receivable, adjustment)."""
    return f"ws:{workspace_id}:{kind}"


def credit_postings(workspace_id: str, tokens: int, *, source: str) -> list[Posting]:
    """Tokens into available from a source account: funding (paid), receivable (on credit) or adjustment."""
    assert tokens > 0 and source in ("funding", "receivable", "adjustment", "spent")
    return [Posting(account(workspace_id, source), -tokens), Posting(account(workspace_id, "available"), tokens)]


def debit_postings(workspace_id: str, tokens: int, *, sink: str) -> list[Posting]:
    """Tokens out of available into a sink account (a negative adjustment)."""
    assert tokens > 0
    return [Posting(account(workspace_id, "available"), -tokens), Posting(account(workspace_id, sink), tokens)]


def invoice_paid_postings(workspace_id: str, tokens: int) -> list[Posting]:
    """An invoice paid: the money now comes from funding, and the receivable it replaced goes back to zero."""
    assert tokens > 0
    return [Posting(account(workspace_id, "funding"), -tokens), Posting(account(workspace_id, "receivable"), tokens)]
