"""Changes to a workspace, sent as commands to the ledger (its one writer) by the admin API and by a workspace's
own `manage` key, answered once this replica follows the workspace's new state.

The command travels on `ledger.commands` and is answered on `ledger.replies` (`ingress.ledger_commands`); the
ledger then publishes the workspace's state on `workspaces.changes`, which every replica follows. Waiting here
until this replica has read that state back makes a change apply to the caller's very next request.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from ingress.services import Services
from schemas.errors import ErrorCode, LuntrexError, NotFound, spec_of
from schemas.events import WorkspaceCommandAnswered, WorkspaceCommandIssued

# How long an answer waits for this replica to see the workspace's new state (others see it as fast).
STATE_WAIT_S = 2.0
WORKSPACE_ID_LENGTH_MAX = 128


class CommandRefused(LuntrexError):
    """The ledger refused a workspace command: its code and status come from the one error table."""

    def __init__(self, code: str, message: str) -> None:
        known = code if code in ErrorCode.__members__.values() else ErrorCode.INTERNAL
        super().__init__(message, code=ErrorCode(known))
        self.status = spec_of(code).status


def workspace_id(value: str) -> str:
    """A workspace id from a path: one with control characters or absurd length names no workspace."""
    if not 0 < len(value) <= WORKSPACE_ID_LENGTH_MAX or not value.isprintable():
        raise NotFound(f"workspace {value[:64]!r} not found")
    return value


async def issue(services: Services, workspace: str, action: str, **fields: Any) -> WorkspaceCommandAnswered:
    """Send one command and wait for the ledger's answer; a refusal is raised as the API error it names."""
    command = WorkspaceCommandIssued(
        workspace_id=workspace_id(workspace), job_id=f"cmd_{uuid.uuid4().hex}", action=action, **fields
    )
    answer = await services.commands.issue(command, timeout_s=services.settings.admin_command_timeout_s)
    if not answer.ok:
        assert answer.error is not None
        raise CommandRefused(answer.error.code, answer.error.message)
    if answer.workspace is not None:
        deadline = time.monotonic() + STATE_WAIT_S
        while services.keys.workspace_revision(workspace) < answer.workspace.revision:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.005)
    return answer
