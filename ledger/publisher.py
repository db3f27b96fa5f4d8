"""Sends the ledger's outcomes through its Faust app's producer and waits for the broker's acknowledgements.

`prepare` encodes before anything is committed, so an outcome too large for the producer is refused while
its database transaction can still roll back (the job then ends failed instead of completed-but-unsent).
`send` pipelines every record of a batch, then waits for all of them: the batch is acked only after that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ledger.refusals import Refused
from schemas import topics
from schemas.errors import ErrorCode
from schemas.events import encode

# Room for a record's framing, key and headers within the producer's request limit.
RECORD_OVERHEAD_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] | None = None


class Publisher:
    def __init__(self, app: Any, *, topic_prefix: str, message_max_bytes: int) -> None:
        self._app = app
        self._prefix = topic_prefix
        self.value_max_bytes = message_max_bytes - RECORD_OVERHEAD_BYTES

    def prepare(self, outgoing: Sequence[tuple[str, bytes, BaseModel]], *, refused_code: ErrorCode) -> list[Record]:
        """Encode each outcome for its (unprefixed) topic; one too large for the producer is refused."""
        records = []
        for topic, key, event in outgoing:
            value = encode(event)
            if len(value) > self.value_max_bytes:
                raise Refused(
                    refused_code,
                    f"the job's outcome is {len(value)} bytes, over the {self.value_max_bytes}-byte event limit; "
                    "nothing was charged",
                )
            records.append(Record(topics.prefixed(self._prefix, topic), key, value))
        return records

    async def send(self, records: list[Record]) -> None:
        pending = [
            await self._app.producer.send(
                topic=record.topic,
                key=record.key,
                value=record.value,
                partition=None,
                timestamp=None,
                headers=record.headers,
            )
            for record in records
        ]
        await asyncio.gather(*pending)
