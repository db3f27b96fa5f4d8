"""Splits a streamed JSONL body into numbered lines with bounded memory: one line at most is ever buffered.

A line longer than the limit is not kept: its bytes are dropped as they arrive until its newline, and it is
reported as `OVERSIZED` under its number, so a huge line costs no memory and does not hide the lines after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

# Marks a line that was longer than the limit (its bytes were dropped).
OVERSIZED: Final = b"\x00oversized"


async def numbered_lines(chunks: AsyncIterator[bytes], *, line_max_bytes: int) -> AsyncIterator[tuple[int, bytes]]:
    """(line number from 1, line without its newline) for every non-blank line; `OVERSIZED` for a long one."""
    buffer = bytearray()
    line_no = 1
    dropping = False
    async for chunk in chunks:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                if not dropping:
                    buffer += chunk[start:]
                    if len(buffer) > line_max_bytes:
                        buffer.clear()
                        dropping = True
                break
            if dropping:
                yield line_no, OVERSIZED
                dropping = False
            else:
                buffer += chunk[start:end]
                line = _strip(buffer)
                if len(buffer) > line_max_bytes:
                    yield line_no, OVERSIZED
                elif line:
                    yield line_no, line
                buffer.clear()
            line_no += 1
            start = end + 1
    if dropping:
        yield line_no, OVERSIZED
    elif _strip(buffer):
        yield line_no, _strip(buffer)


def _strip(buffer: bytearray) -> bytes:
    # A CRLF file is read the same as an LF one; a line of only spaces is blank.
    return bytes(buffer).strip(b" \t\r")
