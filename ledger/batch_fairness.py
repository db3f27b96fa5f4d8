"""Which pending batch lines to release next: round-robin across workspaces, bounded per pool (pure rules).

Each workspace's candidates are its lines in release order (its oldest batch first, each batch in line order).
Rounds give every workspace up to `quantum` lines in turn until the tick's budget or the pools' free slots
run out, so a workspace with a million queued lines takes no more of a round than one with a hundred. A
batch whose next line finds its pool full stops there this tick: a batch is always released as a prefix.
The order of workspaces rotates from tick to tick, so the one left short by a small budget changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    """One pending line: its batch, number and pool (the rest travels with the caller's own record)."""

    batch_id: str
    line_no: int
    pool: str


def allot(
    candidates: Mapping[str, Sequence[Candidate]],
    free_by_pool: Mapping[str, int],
    *,
    budget: int,
    quantum: int,
    rotation: int,
) -> list[Candidate]:
    """The lines to release now, in release order."""
    free = dict(free_by_pool)
    workspaces = sorted(candidates)
    if workspaces:
        start = rotation % len(workspaces)
        workspaces = workspaces[start:] + workspaces[:start]
    positions = dict.fromkeys(workspaces, 0)
    blocked: set[str] = set()
    chosen: list[Candidate] = []
    progressing = True
    while budget > 0 and progressing:
        progressing = False
        for workspace in workspaces:
            taken = _take(candidates[workspace], positions, workspace, free, blocked, min(quantum, budget))
            chosen.extend(taken)
            budget -= len(taken)
            progressing = progressing or bool(taken)
            if budget <= 0:
                break
    return chosen


def _take(
    lines: Sequence[Candidate],
    positions: dict[str, int],
    workspace: str,
    free: dict[str, int],
    blocked: set[str],
    limit: int,
) -> list[Candidate]:
    taken: list[Candidate] = []
    position = positions[workspace]
    while position < len(lines) and len(taken) < limit:
        line = lines[position]
        position += 1
        if line.batch_id in blocked:
            continue
        if free.get(line.pool, 0) <= 0:
            blocked.add(line.batch_id)
            continue
        free[line.pool] -= 1
        taken.append(line)
    positions[workspace] = position
    return taken
