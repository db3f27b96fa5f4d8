"""Top-ups in PostgreSQL: request (idempotent by key), pay through a provider, credit, retry, settle invoices.

A top-up row is written `pending` first, then the provider is asked. Approved: one balanced `topup` entry
(idempotency key `topup:<id>`) credits the tokens, from `funding` when paid or from `receivable` when
invoiced. Declined: the row says why; an auto top-up declined for a retriable reason stays pending with a
`next_attempt_at` (the retry queue that `retry_due` drains), with doubling backoff up to `attempts_max`.
Every attempt's outcome is a finance event (`topup.succeeded` / `topup.failed`), written to the outbox here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import finance_events, journal, rates, thresholds
from ledger.finance_domain import (
    FinanceInputError,
    account,
    checked_paisa,
    credit_postings,
    fraction_text,
    invoice_paid_postings,
    retry_delay_s,
    tokens_at_rate,
)
from ledger.payments import Approved, CardSettings, ChargeRequest, PaymentProviders, default_providers
from ledger.webhook_network import NetworkPolicy
from schemas.finance import FinanceEvent, TopupFailed, TopupSucceeded

IDEMPOTENCY_KEY_CHARS_MAX = 255


@dataclass(frozen=True, slots=True)
class TopupPolicy:
    """Retries of auto top-ups: attempts in all, and the doubling backoff between them."""

    attempts_max: int = 5
    backoff_base_s: float = 30.0
    backoff_max_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class Finance:
    """What finance operations need from the ledger's settings: payment providers and the retry policy."""

    providers: PaymentProviders = field(default_factory=default_providers)
    policy: TopupPolicy = field(default_factory=TopupPolicy)
    # Where webhook endpoints registered by finance commands may point.
    network: NetworkPolicy = field(default_factory=NetworkPolicy)

    @classmethod
    def local(
        cls, card: CardSettings | None = None, policy: TopupPolicy | None = None, network: NetworkPolicy | None = None
    ) -> Finance:
        return cls(default_providers(card), policy or TopupPolicy(), network or NetworkPolicy())


class TopupConflict(FinanceInputError):
    """The idempotency key was used before for a different top-up (another amount or method)."""


class InvoiceNotFound(FinanceInputError):
    """No such invoice in this workspace (a 404, as an unknown id is everywhere else)."""


@dataclass(frozen=True, slots=True)
class Topup:
    id: str
    workspace_id: str
    amount_paisa: int
    tokens: int
    rate_version_id: int
    method: str
    origin: str
    status: str
    failure_reason: str | None
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TopupOutcome:
    topup: Topup
    events: list[FinanceEvent]
    replayed: bool


_COLUMNS = (
    "id, workspace_id, amount_paisa, tokens, rate_version_id, method, origin, status, failure_reason, attempts, "
    "next_attempt_at, created_at"
)


def topup_id_for(workspace_id: str, idempotency_key: str) -> str:
    """Ids derive from the key: the same request always names the same top-up."""
    return "tu_" + hashlib.sha256(f"{workspace_id}\x00{idempotency_key}".encode()).hexdigest()[:24]


async def _load(conn: AsyncConnection, topup_id: str, *, lock: bool) -> Topup | None:
    row = (
        await conn.execute(
            text(f"SELECT {_COLUMNS} FROM topups WHERE id = :id{' FOR UPDATE' if lock else ''}"),  # noqa: S608
            {"id": topup_id},
        )
    ).first()
    return Topup(**row._mapping) if row is not None else None


def _checked_key(idempotency_key: str) -> str:
    if not 0 < len(idempotency_key) <= IDEMPOTENCY_KEY_CHARS_MAX or not idempotency_key.isprintable():
        raise FinanceInputError(f"the idempotency key must be 1-{IDEMPOTENCY_KEY_CHARS_MAX} printable characters")
    return idempotency_key


async def request_topup(
    conn: AsyncConnection,
    finance: Finance,
    *,
    workspace_id: str,
    amount_paisa: int,
    method: str,
    idempotency_key: str,
    origin: Literal["manual", "auto"] = "manual",
) -> TopupOutcome:
    """Buy tokens at the rate in force and pay through `method`; a repeated key returns the first top-up."""
    checked_paisa(amount_paisa)
    provider = finance.providers.get(method)
    _checked_key(idempotency_key)
    balances = await journal.lock_accounts(conn, {workspace_id})
    if workspace_id not in balances:
        raise FinanceInputError(f"no workspace {workspace_id!r}")
    topup_id = topup_id_for(workspace_id, idempotency_key)
    existing = await _load(conn, topup_id, lock=True)
    if existing is not None:
        if (existing.amount_paisa, existing.method) != (amount_paisa, method):
            raise TopupConflict("this idempotency key was used for another top-up (amount or method differ)")
        return TopupOutcome(existing, [], replayed=True)
    rate = await rates.rate_in_force(conn, workspace_id)
    tokens = tokens_at_rate(amount_paisa, rate.tokens_per_bdt)
    if tokens == 0:
        raise FinanceInputError(f"{amount_paisa} paisa buys no whole token at {fraction_text(rate.tokens_per_bdt)}")
    await conn.execute(
        text(
            "INSERT INTO topups (id, workspace_id, idempotency_key, amount_paisa, rate_version_id, tokens, method, "
            "origin, status) VALUES (:id, :ws, :key, :paisa, :rate, :tokens, :method, :origin, 'pending')"
        ),
        {
            "id": topup_id,
            "ws": workspace_id,
            "key": idempotency_key,
            "paisa": amount_paisa,
            "rate": rate.id,
            "tokens": tokens,
            "method": provider.method,
            "origin": origin,
        },
    )
    topup = await _load(conn, topup_id, lock=True)
    assert topup is not None
    return await _attempt(conn, finance, topup, balances[workspace_id])


async def open_finance_account(conn: AsyncConnection, workspace_id: str, kind: str) -> None:
    """Open the workspace's `receivable` or `adjustment` account on first use (no floor: it mirrors the outside)."""
    assert kind in ("receivable", "adjustment")
    await conn.execute(
        text(
            "INSERT INTO ledger_accounts (id, workspace_id, kind, floor) VALUES (:id, :ws, :kind, NULL) "
            "ON CONFLICT (id) DO NOTHING"
        ),
        {"id": account(workspace_id, kind), "ws": workspace_id, "kind": kind},
    )


async def _attempt(conn: AsyncConnection, finance: Finance, topup: Topup, balance: journal.Balances) -> TopupOutcome:
    """One payment attempt of a pending top-up, under its workspace's account lock."""
    attempt = topup.attempts + 1
    provider = finance.providers.get(topup.method)
    answer = provider.charge(ChargeRequest(topup.id, topup.workspace_id, topup.amount_paisa, attempt))
    if isinstance(answer, Approved):
        events = await _credit(conn, topup, attempt, answer, balance)
    else:
        retry = topup.origin == "auto" and answer.retriable and attempt < finance.policy.attempts_max
        delay_s = retry_delay_s(attempt, base_s=finance.policy.backoff_base_s, max_s=finance.policy.backoff_max_s)
        next_at: datetime | None = None
        if retry:
            now: datetime = (await conn.execute(text("SELECT now()"))).scalar_one()
            next_at = now + timedelta(seconds=delay_s)
        await _update(conn, topup.id, "pending" if retry else "failed", attempt, answer.reason, next_at, None)
        events = [
            TopupFailed(
                workspace_id=topup.workspace_id,
                job_id=topup.id,
                topup_id=topup.id,
                origin=topup.origin,
                method=topup.method,
                amount_paisa=topup.amount_paisa,
                attempt=attempt,
                reason=answer.reason,
                will_retry=retry,
                next_attempt_at=next_at.isoformat() if next_at else None,
            )
        ]
    await finance_events.record(conn, events)
    after = await _load(conn, topup.id, lock=False)
    assert after is not None
    return TopupOutcome(after, list(events), replayed=False)


async def _credit(
    conn: AsyncConnection, topup: Topup, attempt: int, answer: Approved, balance: journal.Balances
) -> list[FinanceEvent]:
    rate = (
        await conn.execute(
            text("SELECT tokens_per_bdt_num AS n, tokens_per_bdt_den AS d FROM exchange_rates WHERE id = :id"),
            {"id": topup.rate_version_id},
        )
    ).one()
    detail: dict[str, Any] = {
        "topup_id": topup.id,
        "amount_paisa": topup.amount_paisa,
        "rate_version_id": topup.rate_version_id,
        "tokens_per_bdt": f"{rate.n}/{rate.d}",
        "method": topup.method,
        "origin": topup.origin,
        "reference": answer.reference,
    }
    source = "receivable" if answer.on_credit else "funding"
    if answer.on_credit:
        await open_finance_account(conn, topup.workspace_id, "receivable")
    entry = journal.Entry(
        f"topup:{topup.id}",
        "topup",
        topup.workspace_id,
        None,
        credit_postings(topup.workspace_id, topup.tokens, source=source),
        detail,
    )
    recorded = await journal.record_entries(conn, [entry])
    assert recorded == 1, f"top-up {topup.id} was credited before it succeeded"
    await _update(conn, topup.id, "succeeded", attempt, None, None, answer.reference)
    if answer.on_credit:
        await conn.execute(
            text(
                "INSERT INTO invoices (id, workspace_id, topup_id, amount_paisa, tokens, status) "
                "VALUES (:id, :ws, :topup, :paisa, :tokens, 'open')"
            ),
            {
                "id": answer.reference,
                "ws": topup.workspace_id,
                "topup": topup.id,
                "paisa": topup.amount_paisa,
                "tokens": topup.tokens,
            },
        )
    before = balance.balance_left
    balance.available += topup.tokens
    # A credit only raises the balance: it can re-arm thresholds, never fire one.
    crossed, fired = await thresholds.evaluate(conn, topup.workspace_id, before, balance.balance_left)
    assert not crossed and fired is None
    return [
        TopupSucceeded(
            workspace_id=topup.workspace_id,
            job_id=topup.id,
            topup_id=topup.id,
            origin=topup.origin,
            method=topup.method,
            amount_paisa=topup.amount_paisa,
            tokens=topup.tokens,
            rate_version_id=topup.rate_version_id,
            attempt=attempt,
            balance_tokens=balance.balance_left,
        )
    ]


async def _update(
    conn: AsyncConnection,
    topup_id: str,
    status: str,
    attempts: int,
    reason: str | None,
    next_at: datetime | None,
    reference: str | None,
) -> None:
    await conn.execute(
        text(
            "UPDATE topups SET status = :status, attempts = :attempts, failure_reason = :reason, "
            "next_attempt_at = :next_at, provider_reference = coalesce(:ref, provider_reference), updated_at = now() "
            "WHERE id = :id"
        ),
        {
            "status": status,
            "attempts": attempts,
            "reason": reason,
            "next_at": next_at,
            "ref": reference,
            "id": topup_id,
        },
    )


async def retry_due(conn: AsyncConnection, finance: Finance, *, limit: int) -> list[FinanceEvent]:
    """Drain the retry queue: one more attempt for each auto top-up whose retry is due (the ledger's timer)."""
    due = (
        await conn.execute(
            text(
                "SELECT id, workspace_id FROM topups WHERE status = 'pending' AND next_attempt_at <= now() "
                "ORDER BY next_attempt_at LIMIT :n"
            ),
            {"n": limit},
        )
    ).all()
    if not due:
        return []
    balances = await journal.lock_accounts(conn, {row.workspace_id for row in due})
    events: list[FinanceEvent] = []
    for row in due:
        topup = await _load(conn, row.id, lock=True)
        # Another drainer may have taken it between the select and the lock.
        if topup is None or topup.status != "pending" or topup.next_attempt_at is None:
            continue
        events += (await _attempt(conn, finance, topup, balances[row.workspace_id])).events
    return events


async def mark_invoice_paid(conn: AsyncConnection, workspace_id: str, invoice_id: str) -> bool:
    """Settle an invoiced credit: funding pays the receivable. False when it was already paid (a replay)."""
    await journal.lock_accounts(conn, {workspace_id})
    invoice = (
        await conn.execute(
            text("SELECT status, tokens FROM invoices WHERE id = :id AND workspace_id = :ws FOR UPDATE"),
            {"id": invoice_id, "ws": workspace_id},
        )
    ).first()
    if invoice is None:
        raise InvoiceNotFound(f"invoice_id {invoice_id!r}: no such invoice in this workspace")
    if invoice.status == "paid":
        return False
    entry = journal.Entry(
        f"invoice_paid:{invoice_id}",
        "invoice_paid",
        workspace_id,
        None,
        invoice_paid_postings(workspace_id, invoice.tokens),
        {"invoice_id": invoice_id},
    )
    assert await journal.record_entries(conn, [entry]) == 1
    await conn.execute(text("UPDATE invoices SET status = 'paid', paid_at = now() WHERE id = :id"), {"id": invoice_id})
    return True
