"""Which of a feeder tick's chosen lines may be admitted now, and why the others wait (pure rules).

The lines come in release order (each batch's in line order). Each is tried as admission will try it, against
the limits (`ledger/limits.py`: rate limits, then spend caps) and the workspace's available credit, and admission
then decides the kept lines exactly so (same transaction, same locked accounts, same counters), so no kept line
is refused there for a limit or credit:

- a line whose hold does not fit its workspace's credit stops every later line of that workspace this tick (the
  workspace waits for credit, and its batches are not tried again before its credit could pay that hold);
- a line refused by a rate limit or a spend cap stops its batch this tick, and the batch waits (nothing held,
  nothing recorded) until the limit may let it through: the window's end for `rpm_max`/`tpm_max`; for a spend
  cap, the next UTC day (month) or `cap_recheck_s` from now, whichever comes first, since settlements replace
  running jobs' holds by their (smaller) costs and an administrator may raise a cap;
- a line refused for good (unpriceable, a token bound over a `tpm_max`, a hold alone over a cap, a guardrail) is
  kept: admission rejects it and it ends `failed`, as a sync request would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ledger import holds, journal, limits
from schemas.errors import ErrorCode


@dataclass(frozen=True, slots=True)
class Line:
    """A chosen line as the gate sees it: its batch and what admission will be asked to hold."""

    batch_id: str
    request: holds.HoldRequest


@dataclass(slots=True)
class Screened:
    # Indices of the lines to admit, in release order (per batch a prefix of its chosen lines).
    kept: list[int] = field(default_factory=list)
    # Workspaces whose credit did not cover their next line, and that line's hold: the workspace is not worth
    # trying again before its available credit above its floor reaches it.
    short: dict[str, int] = field(default_factory=dict)
    # Batches refused by a limit, and when to try them again.
    throttled: dict[str, datetime] = field(default_factory=dict)
    # Batches whose lines were looked at (one no longer refused by a limit stops waiting for it).
    tried: set[str] = field(default_factory=set)


def screen(
    lines: Sequence[Line],
    balances: Mapping[str, journal.Balances],
    book: limits.LimitBook,
    recorded: Mapping[str, object],
    *,
    cap_recheck_s: float,
) -> Screened:
    """Screen the lines against a copy of `book` (whose usage is loaded); `recorded`: jobs admitted before (a
    replay is answered by admission with its first decision, so it counts nothing here either)."""
    trial = book.copy()
    available = {workspace_id: account.available for workspace_id, account in balances.items()}
    out = Screened()
    for index, line in enumerate(lines):
        request = line.request
        account = balances.get(request.workspace_id)
        if account is None or request.workspace_id in out.short or line.batch_id in out.throttled:
            continue
        out.tried.add(line.batch_id)
        if request.job_id in recorded or request.refusal is not None:
            out.kept.append(index)
            continue
        job = holds.limited(request)
        refusal = trial.refusal(job)
        if refusal is not None:
            reopens = trial.reopens_at(job, refusal)
            if reopens is not None:
                if refusal.get("code") != ErrorCode.RATE_LIMIT_EXCEEDED.value:
                    reopens = min(reopens, book.now + timedelta(seconds=cap_recheck_s))
                # Not this line, nor any later line of this batch: a batch is released in order.
                out.throttled[line.batch_id] = reopens
                continue
            out.kept.append(index)
            continue
        if available[request.workspace_id] - request.hold < account.available_floor:
            out.short[request.workspace_id] = request.hold
            continue
        available[request.workspace_id] -= request.hold
        trial.count(job)
        out.kept.append(index)
    return out
