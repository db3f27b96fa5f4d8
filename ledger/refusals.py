"""Why the ledger refuses an event: a stable error code for the job's caller and a message they can read.

A refused event costs its own job and nothing else (runtime/consume.py). The code is what the caller sees
(schemas/errors.py gives its HTTP status); the message names the cause without echoing the event's content,
which may be the very thing that could not be stored (a NUL character) or too large to send.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from runtime.consume import PermanentFailure
from schemas.errors import ErrorCode


class Stage(StrEnum):
    """Which consume loop refused the event: its job's fate differs (refused before or after it ran)."""

    ADMISSION = "admission"
    SETTLEMENT = "settlement"


class Refused(PermanentFailure):
    """An event the ledger will not process, with the code its job ends with."""

    def __init__(self, code: ErrorCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True, slots=True)
class Refusal:
    code: ErrorCode
    message: str


# Errors that say the event's content cannot be stored or priced, not that the ledger has a bug.
_CONTENT_ERRORS = ("DataError", "ValidationError", "JSONDecodeError", "UnicodeDecodeError", "IntegrityError")


def refusal_of(error: BaseException, stage: Stage) -> Refusal:
    """The code and message a job ends with when its event was refused by `error`."""
    if isinstance(error, Refused):
        return Refusal(error.code, error.reason)
    kind = type(error).__name__
    if stage is Stage.ADMISSION:
        if kind in _CONTENT_ERRORS or kind == "MessageSizeTooLargeError":
            return Refusal(
                ErrorCode.INVALID_REQUEST, f"the ledger could not accept this job ({kind}); nothing was held"
            )
        return Refusal(ErrorCode.INTERNAL, f"the ledger failed on this job ({kind}); nothing was held or charged")
    if kind in _CONTENT_ERRORS or kind == "MessageSizeTooLargeError":
        return Refusal(
            ErrorCode.UPSTREAM_ERROR,
            f"the provider's answer could not be recorded ({kind}); the hold was released and nothing charged",
        )
    return Refusal(
        ErrorCode.INTERNAL,
        f"the ledger failed to settle this job ({kind}); the hold was released and nothing charged",
    )
