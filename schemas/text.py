"""Text types every wire format shares: printable labels and storable free text, with their refusals."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

MAX_MODEL_NAME_CHARS = 128

# C0 controls, DEL and C1 controls: never part of a name, a tag or an id.
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")


def refuse_control_characters(value: str) -> str:
    found = _CONTROL_CHARACTERS.search(value)
    if found is not None:
        raise ValueError(f"must not contain control characters (found U+{ord(found.group()):04X})")
    return value


def refuse_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and providers refuse or truncate at it. Every other character,
    # control characters included, is carried as sent.
    if "\x00" in value:
        raise ValueError("must not contain NUL (U+0000)")
    return value


# The refusals as annotations. A length bound goes BEFORE them, `Annotated[str, Field(max_length=64), PRINTABLE]`:
# bounding `Label` from outside (`Annotated[Label, Field(max_length=64)]`) makes pydantic check the bound after the
# validator and word the error for a list ("should have at most 64 items"), which is wrong for a tag or an id.
PRINTABLE = AfterValidator(refuse_control_characters)
NO_NUL = AfterValidator(refuse_nul)
# A name, tag, id or model name: printable text only.
Label = Annotated[str, PRINTABLE]
# Free text (message contents, stop sequences): anything but NUL.
Text = Annotated[str, NO_NUL]
# Bounded labels, for ids, cursors and filters.
Label64 = Annotated[str, Field(max_length=64), PRINTABLE]
Label128 = Annotated[str, Field(max_length=128), PRINTABLE]
ModelName = Annotated[str, Field(min_length=1, max_length=MAX_MODEL_NAME_CHARS), PRINTABLE]

# OpenAI's rule for a message's participant `name` (its API answers `^[^\s<|\\/>]+$`), bounded as it long was.
PARTICIPANT_NAME_CHARS_MAX = 64
_NOT_IN_A_PARTICIPANT_NAME = frozenset("<|\\/>")


def refuse_unfit_participant_name(value: str) -> str:
    if any(char.isspace() or char in _NOT_IN_A_PARTICIPANT_NAME for char in value):
        raise ValueError("must not contain spaces or any of < | \\ / > (OpenAI's rule for a participant name)")
    return value


# A message's participant name: printable, no spaces, none of `<|\/>`, 1 to 64 characters.
ParticipantName = Annotated[
    str,
    Field(min_length=1, max_length=PARTICIPANT_NAME_CHARS_MAX),
    PRINTABLE,
    AfterValidator(refuse_unfit_participant_name),
]
