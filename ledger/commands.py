"""Operators' workspace commands, executed by the ledger (it owns workspaces, accounts and the journal).

Ingress publishes `WorkspaceCommandIssued` on `ledger.commands` (keyed by workspace, like the money topics, so
a workspace's commands and jobs share one writer). For each command this agent commits its change, publishes
the workspace's new state on `workspaces.changes`, then answers on `ledger.replies` keyed by the command id.
Redelivery is harmless: creation is insert-if-absent, settings are absolute values, and a grant's journal
idempotency key is derived from the command id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import batch_feeder, finance_commands, journal, queries, rates, workspaces
from ledger.finance_domain import PAISA_PER_BDT, FinanceInputError, tokens_at_rate
from ledger.topups import Finance
from schemas import topics
from schemas.catalogue import Catalogue
from schemas.errors import ErrorCode
from schemas.events import Envelope, JobError, WorkspaceCommandAnswered, WorkspaceCommandIssued, decode

log = logging.getLogger(__name__)

Publish = Callable[[list[tuple[str, bytes, Envelope]]], Awaitable[None]]
ATTEMPTS_MAX = 6


class Refused(Exception):
    """A command a rule refuses: answered with this code, never retried."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class WorkspaceCommands:
    """The consume loop of `ledger.commands`; registered as a Faust agent by the ledger app."""

    def __init__(
        self, engine: AsyncEngine, catalogue: Catalogue, publish: Publish, finance: Finance, *, feeder_lock_key: int
    ) -> None:
        self._engine = engine
        self._catalogue = catalogue
        self._publish = publish
        self._finance = finance
        self._feeder_lock_key = feeder_lock_key

    async def agent(self, stream: Any) -> None:
        async for payload in stream:
            await self.handle(payload)

    async def handle(self, payload: bytes) -> None:
        try:
            command = decode(WorkspaceCommandIssued, payload)
        except ValidationError:
            # Without a readable command id there is nobody to answer; the issuer times out with a 503.
            log.warning("dropping an undecodable workspace command (%d bytes)", len(payload))
            return
        answer = await self._answer(command)
        outgoing: list[tuple[str, bytes, Envelope]] = []
        if answer.workspace is not None:
            outgoing.append((topics.WORKSPACES_CHANGES, topics.ledger_key(command.workspace_id), answer.workspace))
        outgoing.append((topics.LEDGER_REPLIES, topics.job_key(command.job_id), answer))
        for attempt in range(1, ATTEMPTS_MAX + 1):
            try:
                await self._publish(outgoing)
                return
            except Exception:
                log.exception("publishing a command answer failed (attempt %d)", attempt)
                await asyncio.sleep(min(0.1 * 2**attempt, 5.0))

    async def _answer(self, command: WorkspaceCommandIssued) -> WorkspaceCommandAnswered:
        base = {"workspace_id": command.workspace_id, "job_id": command.job_id}
        for attempt in range(1, ATTEMPTS_MAX + 1):
            try:
                if command.action == "finance":
                    return await self._finance_answer(command)
                async with self._engine.begin() as conn:
                    granted = await self._apply(conn, command)
                    state = await workspaces.state(conn, command.workspace_id)
                    summary = await queries.balance_summary(conn, command.workspace_id)
                return WorkspaceCommandAnswered(
                    **base,
                    ok=True,
                    workspace=state,
                    granted_tokens=granted,
                    balance_tokens=summary.balance_tokens if summary else None,
                )
            except Refused as refused:
                error = JobError(code=refused.code, message=refused.message)
                return WorkspaceCommandAnswered(**base, ok=False, error=error)
            except (IntegrityError, DataError) as exc:
                log.info("workspace command %s refused by a constraint: %s", command.job_id, exc.orig)
                message = (
                    "refused by the book's rules (would the balance go below its floor?)"
                    if command.action == "finance"
                    else "refused by the book's rules (is the balance below the new credit line?)"
                )
                return WorkspaceCommandAnswered(
                    **base, ok=False, error=JobError(code=ErrorCode.INVALID_REQUEST, message=message)
                )
            except (OperationalError, InterfaceError):
                log.exception("workspace command %s: database unavailable (attempt %d)", command.job_id, attempt)
                await asyncio.sleep(min(0.1 * 2**attempt, 5.0))
            except Exception:
                # The top of this command's handling: a bug costs this one command, never the agent.
                log.exception("workspace command %s failed", command.job_id)
                internal = JobError(code=ErrorCode.INTERNAL, message="the ledger failed to apply the command")
                return WorkspaceCommandAnswered(**base, ok=False, error=internal)
        unavailable = JobError(code=ErrorCode.UNAVAILABLE, message="the ledger's database is unavailable")
        return WorkspaceCommandAnswered(**base, ok=False, error=unavailable)

    async def _finance_answer(self, command: WorkspaceCommandIssued) -> WorkspaceCommandAnswered:
        """Run a finance command in one transaction; a refusal writes nothing (the transaction rolls back)."""
        try:
            parsed = finance_commands.parse(command.finance or {})
        except FinanceInputError as exc:
            raise Refused(ErrorCode.INVALID_REQUEST, str(exc)) from exc
        try:
            async with self._engine.begin() as conn:
                # Prices and the platform rate belong to no workspace; everything else needs one that exists.
                platform = parsed.action == "price.publish" or getattr(parsed, "platform", False)
                if not platform and await workspaces.state(conn, command.workspace_id) is None:
                    raise Refused(ErrorCode.NOT_FOUND, f"workspace '{command.workspace_id}' not found")
                result = await finance_commands.execute(
                    conn, self._finance, self._catalogue, command.workspace_id, parsed, actor=command.actor or "?"
                )
        except FinanceInputError as exc:
            raise Refused(ErrorCode(finance_commands.error_code(exc)), str(exc)) from exc
        return WorkspaceCommandAnswered(
            workspace_id=command.workspace_id, job_id=command.job_id, ok=True, result=result
        )

    async def _apply(self, conn: AsyncConnection, command: WorkspaceCommandIssued) -> int:
        """Apply one command; returns the tokens it granted."""
        ws = command.workspace_id
        if command.default_model is not None and self._catalogue.resolve(command.default_model) is None:
            raise Refused(ErrorCode.MODEL_NOT_FOUND, f"model '{command.default_model}' is not in the catalogue")
        if command.action == "create":
            await self._create(conn, command)
        elif command.action == "update":
            changes = {name: getattr(command, name) for name in command.fields_set if name in workspaces.UPDATABLE}
            if changes.get("name") is None and "name" in changes:
                raise Refused(ErrorCode.INVALID_REQUEST, "a workspace's name cannot be cleared")
            if not await workspaces.update(conn, ws, changes):
                raise Refused(ErrorCode.NOT_FOUND, f"workspace '{ws}' not found")
        elif command.action in ("suspend", "resume"):
            if command.action == "suspend":
                # No batch line of the workspace is released once the suspension has answered.
                await batch_feeder.exclude_ticks(conn, self._feeder_lock_key)
            if not await workspaces.set_suspended(conn, ws, suspended=command.action == "suspend"):
                raise Refused(ErrorCode.NOT_FOUND, f"workspace '{ws}' not found")
        elif await workspaces.state(conn, ws) is None:
            raise Refused(ErrorCode.NOT_FOUND, f"workspace '{ws}' not found")
        return await self._grant(conn, command)

    async def _create(self, conn: AsyncConnection, command: WorkspaceCommandIssued) -> None:
        existing = await workspaces.state(conn, command.workspace_id)
        if existing is not None and existing.name != command.name:
            raise Refused(ErrorCode.CONFLICT, f"workspace '{command.workspace_id}' already exists")
        await journal.create_workspace(
            conn,
            command.workspace_id,
            name=command.name or command.workspace_id,
            credit_line_tokens=command.credit_line_tokens or 0,
            default_model=command.default_model,
        )
        settings: dict[str, Any] = {}
        if command.rpm_max is not None or command.tpm_max is not None:
            settings = {"rpm_max": command.rpm_max, "tpm_max": command.tpm_max}
        if command.guardrails:
            settings["guardrails"] = command.guardrails
        if settings:
            await workspaces.update(conn, command.workspace_id, settings)

    async def _grant(self, conn: AsyncConnection, command: WorkspaceCommandIssued) -> int:
        if command.grant_tokens is None and command.grant_bdt is None:
            return 0
        tokens = command.grant_tokens or 0
        detail: dict[str, Any] = {"reason": command.reason or "admin grant", "command_id": command.job_id}
        if command.grant_bdt is not None:
            # The rate in force (the workspace's override, else the platform's), as a top-up of the same amount
            # converts: the workspace row's `tokens_per_bdt` is only the rate it was created with.
            rate = await rates.rate_in_force(conn, command.workspace_id)
            tokens += tokens_at_rate(command.grant_bdt * PAISA_PER_BDT, rate.tokens_per_bdt)
            detail["rate_version_id"] = rate.id
        if tokens <= 0:
            raise Refused(ErrorCode.INVALID_REQUEST, "a grant must be positive")
        key = f"grant:admin:{command.job_id}"
        if await journal.grant(conn, command.workspace_id, tokens, idempotency_key=key, detail=detail):
            return tokens
        # A redelivered command: the book has its grant from the first delivery, converted at the rate in force
        # then, which may not be today's; the answer says what was credited.
        credited = await journal.credited(conn, key, command.workspace_id)
        return tokens if credited is None else credited
