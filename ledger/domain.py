"""Pure money rules: pricing, the one rounding rule, holds and the postings of every journal entry.

No I/O here. Amounts are integers in credit tokens; prices and rates are exact `Fraction`s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction


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


def charge_tokens(tokens_in: int, tokens_out: int, price_in: Fraction, price_out: Fraction) -> int:
    """The one rounding rule: the exact priced total, rounded up to a whole credit token.

    Rounding the total once (not each side) keeps the error below one token per call.
    """
    assert tokens_in >= 0 and tokens_out >= 0, "token counts are never negative"
    return math.ceil(tokens_in * price_in + tokens_out * price_out)


def hold_tokens(input_estimate: int, max_output_tokens: int, price_in: Fraction, price_out: Fraction) -> int:
    """Credit held at admission: the worst case of the estimate plus every allowed output token."""
    return charge_tokens(input_estimate, max_output_tokens, price_in, price_out)


def tokens_for_paisa(amount_paisa: int, tokens_per_bdt: int) -> int:
    """Credit tokens bought by a top-up in paisa (1 BDT = 100 paisa); fractions of a token are not sold."""
    assert amount_paisa >= 0
    return (amount_paisa * tokens_per_bdt) // 100


@dataclass(frozen=True, slots=True)
class Settlement:
    cost_tokens: int
    uncharged_tokens: int


def settle_amounts(hold: int, priced_cost: int) -> Settlement:
    """Never charge past the hold: overdraft is impossible by construction, and an overrun is recorded."""
    charged = min(hold, priced_cost)
    return Settlement(cost_tokens=charged, uncharged_tokens=priced_cost - charged)


def grant_postings(workspace_id: str, tokens: int) -> list[Posting]:
    assert tokens > 0
    return [
        Posting(account_id(workspace_id, AccountKind.FUNDING), -tokens),
        Posting(account_id(workspace_id, AccountKind.AVAILABLE), tokens),
    ]


def hold_postings(workspace_id: str, hold: int) -> list[Posting]:
    assert hold > 0
    return [
        Posting(account_id(workspace_id, AccountKind.AVAILABLE), -hold),
        Posting(account_id(workspace_id, AccountKind.HELD), hold),
    ]


def settle_postings(workspace_id: str, hold: int, cost: int) -> list[Posting]:
    """Release the hold: the cost goes to spent, the rest back to available. Zero legs are left out."""
    assert 0 <= cost <= hold
    legs = [
        Posting(account_id(workspace_id, AccountKind.HELD), -hold),
        Posting(account_id(workspace_id, AccountKind.SPENT), cost),
        Posting(account_id(workspace_id, AccountKind.AVAILABLE), hold - cost),
    ]
    return [leg for leg in legs if leg.amount != 0]


def is_balanced(postings: list[Posting]) -> bool:
    return sum(posting.amount for posting in postings) == 0
