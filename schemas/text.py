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


# A name, tag, id or model name: printable text only.
Label = Annotated[str, AfterValidator(refuse_control_characters)]
# Free text (message contents, stop sequences): anything but NUL.
Text = Annotated[str, AfterValidator(refuse_nul)]
ModelName = Annotated[Label, Field(min_length=1, max_length=MAX_MODEL_NAME_CHARS)]
