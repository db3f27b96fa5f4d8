"""Executes a finance command (a top-up, an invoice paid, a rate or price published, thresholds, corrections)
inside the ledger's transaction: what the ingress -> ledger command mechanism calls for each `ledger.commands`
event of the finance family.

`parse` turns a payload into a typed command (a malformed one is a `FinanceInputError`); `execute` runs it and
returns the JSON answer for `jobs.results`; `error_code` gives the API code of a refusal. Every command is
idempotent: top-ups and adjustments by their key, invoices and refunds by their id, versions by their time.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import corrections, finance_queries, price_book, rates, thresholds, topups, webhook_commands, webhooks
from ledger.finance_domain import FinanceInputError, checked_paisa, paisa_from_bdt, parse_multiplier, parse_rate
from ledger.topups import Finance, TopupConflict
from schemas.catalogue import Catalogue
from schemas.finance import (
    AddAlertThreshold,
    Adjust,
    FinanceCommand,
    MarkInvoicePaid,
    PublishPrice,
    PublishRate,
    RefundJob,
    RemoveAlertThreshold,
    RemoveWebhook,
    RequestTopup,
    SetAutoTopup,
    SetWebhook,
)

_COMMAND: TypeAdapter[FinanceCommand] = TypeAdapter(FinanceCommand)


def parse(payload: dict[str, Any] | bytes | str) -> FinanceCommand:
    try:
        if isinstance(payload, dict):
            return _COMMAND.validate_python(payload)
        return _COMMAND.validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise FinanceInputError(f"{where}: {first['msg']}" if where else str(first["msg"])) from exc


def error_code(exc: FinanceInputError) -> str:
    """The API error code of a refused command (its status comes from `schemas.errors.ERRORS`)."""
    if isinstance(exc, webhooks.WebhookNotFound | topups.InvoiceNotFound):
        return "not_found"
    if isinstance(exc, webhooks.WebhookConflict):
        return "conflict"
    conflict = isinstance(exc, TopupConflict | corrections.CorrectionConflict)
    return "idempotency_conflict" if conflict else "invalid_request"


def _paisa(amount_paisa: int | None, amount_bdt: str | None) -> int:
    if (amount_paisa is None) == (amount_bdt is None):
        raise FinanceInputError("give exactly one of amount_paisa (integer paisa) or amount_bdt (such as '250.50')")
    return checked_paisa(amount_paisa) if amount_paisa is not None else paisa_from_bdt(amount_bdt or "")


async def execute(
    conn: AsyncConnection,
    finance: Finance,
    catalogue: Catalogue,
    workspace_id: str,
    command: FinanceCommand,
    *,
    actor: str,
) -> dict[str, Any]:
    """Run one command for a workspace; raises `FinanceInputError` (nothing written) when it is refused."""
    if isinstance(command, RequestTopup):
        outcome = await topups.request_topup(
            conn,
            finance,
            workspace_id=workspace_id,
            amount_paisa=_paisa(command.amount_paisa, command.amount_bdt),
            method=command.method,
            idempotency_key=command.idempotency_key,
        )
        return {"topup": _jsonable(asdict(outcome.topup)), "replayed": outcome.replayed}
    if isinstance(command, MarkInvoicePaid):
        return {"paid": await topups.mark_invoice_paid(conn, workspace_id, command.invoice_id)}
    if isinstance(command, PublishRate):
        version = await rates.publish_rate(
            conn,
            workspace_id=None if command.platform else workspace_id,
            tokens_per_bdt=parse_rate(command.tokens_per_bdt),
            effective_at=command.effective_at,
            reason=command.reason,
        )
        return {"rate": version.as_json()}
    if isinstance(command, PublishPrice):
        cached = command.cached_input_multiplier
        price = await price_book.publish_price(
            conn,
            catalogue,
            model_id=command.model_id,
            input_multiplier=parse_multiplier(command.input_multiplier, what="input_multiplier"),
            output_multiplier=parse_multiplier(command.output_multiplier, what="output_multiplier"),
            cached_input_multiplier=parse_multiplier(cached, what="cached_input_multiplier") if cached else None,
            effective_at=command.effective_at,
        )
        return {"price": price.as_json()}
    return await _execute_settings(conn, finance, workspace_id, command, actor=actor)


async def _execute_settings(
    conn: AsyncConnection, finance: Finance, workspace_id: str, command: FinanceCommand, *, actor: str
) -> dict[str, Any]:
    if isinstance(command, SetAutoTopup):
        await thresholds.set_auto_topup(
            conn,
            workspace_id,
            threshold_tokens=command.threshold_tokens,
            amount_paisa=_paisa(command.amount_paisa, command.amount_bdt),
            method=command.method,
            enabled=command.enabled,
        )
        # The answer is the stored row, read in this transaction by the balance summary's own query: the PUT
        # answers exactly what `GET /api/v1/balance` shows afterwards (normalised amount, both units, `armed`).
        return {"auto_topup": await finance_queries.auto_topup(conn, workspace_id)}
    if isinstance(command, AddAlertThreshold):
        threshold_id = await thresholds.add_alert_threshold(
            conn, workspace_id, kind=command.kind, threshold_tokens=command.threshold_tokens, percent=command.percent
        )
        return {"threshold_id": threshold_id}
    if isinstance(command, RemoveAlertThreshold):
        return {"removed": await thresholds.remove_alert_threshold(conn, workspace_id, command.threshold_id)}
    if isinstance(command, SetWebhook):
        endpoint_id = await webhooks.set_billing_endpoint(
            conn, workspace_id, command.url, command.secret, finance.network
        )
        return {"webhook": "set", "id": endpoint_id}
    if isinstance(command, RemoveWebhook):
        return {"removed": await webhooks.remove_billing_endpoint(conn, workspace_id)}
    if webhook_commands.handles(command):
        return await webhook_commands.execute(conn, workspace_id, command, finance.network)
    if isinstance(command, RefundJob):
        refund = await corrections.refund_job(
            conn, workspace_id, command.job_id, reason=command.reason, actor=actor, finance=finance
        )
        return _correction(refund)
    assert isinstance(command, Adjust), f"unhandled finance command {command!r}"
    adjustment = await corrections.adjust(
        conn,
        workspace_id,
        command.tokens,
        reason=command.reason,
        actor=actor,
        idempotency_key=command.idempotency_key,
        finance=finance,
    )
    return _correction(adjustment)


def _correction(correction: corrections.Correction) -> dict[str, Any]:
    return {
        "entry": correction.idempotency_key,
        "tokens": correction.tokens,
        "balance_tokens": correction.balance_tokens,
        "replayed": correction.replayed,
    }


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in values.items()}
