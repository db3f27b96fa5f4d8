"""Payment providers: how a top-up is paid for. Real and local by default; never a silent no-op.

    PaymentProvider.charge(ChargeRequest) -> Approved | Declined

- `invoice` (InvoicedCredit): the default. Approves at once; the credit is booked against the workspace's
  `receivable` account and an invoice is opened, which `topups.mark_invoice_paid` settles later.
- `card` (LocalCard): a card-like processor on this machine. It settles at once into `funding`, and declines
  on demand so failures can be exercised:
  * amount ending in .02 BDT: declined for good (`card_declined`);
  * amount ending in .03 BDT: processor unavailable (retriable) on the first two attempts, then approved;
  * amount ending in .04 BDT: processor unavailable on every attempt;
  * `CardSettings.decline_all`: every charge declined for good (an operator switch for drills).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal, Protocol

from ledger.finance_domain import FinanceInputError

Method = Literal["invoice", "card"]
METHODS: tuple[Method, ...] = ("invoice", "card")


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    topup_id: str
    workspace_id: str
    amount_paisa: int
    attempt: int


@dataclass(frozen=True, slots=True)
class Approved:
    reference: str
    # True: money is owed by the workspace until its invoice is paid (credit booked against receivable).
    on_credit: bool


@dataclass(frozen=True, slots=True)
class Declined:
    reason: str
    retriable: bool


class PaymentProvider(Protocol):
    method: Method

    def charge(self, request: ChargeRequest) -> Approved | Declined: ...


class InvoicedCredit:
    """Credit now, invoice to pay later: the platform's own local payment method."""

    method: Method = "invoice"

    def charge(self, request: ChargeRequest) -> Approved | Declined:
        return Approved(reference=f"inv_{request.topup_id}", on_credit=True)


@dataclass(frozen=True, slots=True)
class CardSettings:
    decline_all: bool = False
    # How many attempts of a ".03" amount fail before the processor comes back.
    transient_failures: int = 2


class LocalCard:
    """A card processor that runs here: deterministic approvals and declines, by amount or by setting."""

    method: Method = "card"

    def __init__(self, settings: CardSettings) -> None:
        self._settings = settings

    def charge(self, request: ChargeRequest) -> Approved | Declined:
        cents = request.amount_paisa % 100
        if self._settings.decline_all or cents == 2:
            return Declined(reason="card_declined: the card issuer refused the charge", retriable=False)
        if cents == 4 or (cents == 3 and request.attempt <= self._settings.transient_failures):
            return Declined(reason="processor_unavailable: the card processor did not answer", retriable=True)
        digest = hashlib.sha256(f"{request.topup_id}:{request.attempt}".encode()).hexdigest()[:16]
        return Approved(reference=f"card_{digest}", on_credit=False)


class PaymentProviders:
    """The providers a ledger knows, by method; an unknown method is refused, never ignored."""

    def __init__(self, providers: list[PaymentProvider]) -> None:
        self._by_method: dict[str, PaymentProvider] = {provider.method: provider for provider in providers}

    def get(self, method: str) -> PaymentProvider:
        provider = self._by_method.get(method)
        if provider is None:
            known = ", ".join(sorted(self._by_method))
            raise FinanceInputError(f"unknown payment method {method!r}; known: {known}")
        return provider


def default_providers(card: CardSettings | None = None) -> PaymentProviders:
    return PaymentProviders([InvoicedCredit(), LocalCard(card or CardSettings())])
