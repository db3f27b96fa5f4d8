"""Tracks which offsets are done while jobs finish out of order, so commits never pass unfinished work."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka import TopicPartition


@dataclass
class _PartitionProgress:
    in_flight: set[int] = field(default_factory=set)
    next_offset: int | None = None
    committed: int | None = None


class OffsetTracker:
    def __init__(self) -> None:
        self._progress: dict[TopicPartition, _PartitionProgress] = {}

    def started(self, tp: TopicPartition, offset: int) -> None:
        progress = self._progress.setdefault(tp, _PartitionProgress())
        progress.in_flight.add(offset)
        progress.next_offset = max(progress.next_offset or 0, offset + 1)

    def done(self, tp: TopicPartition, offset: int) -> None:
        # A job may finish after its partition was revoked; its offset is then another consumer's business.
        progress = self._progress.get(tp)
        if progress is not None:
            progress.in_flight.discard(offset)

    def committable(self) -> dict[TopicPartition, int]:
        """Per partition, the offset to commit: the oldest unfinished one, or past the newest seen."""
        positions: dict[TopicPartition, int] = {}
        for tp, progress in self._progress.items():
            if progress.next_offset is None:
                continue
            position = min(progress.in_flight) if progress.in_flight else progress.next_offset
            if position != progress.committed:
                positions[tp] = position
        return positions

    def mark_committed(self, positions: dict[TopicPartition, int]) -> None:
        for tp, position in positions.items():
            self._progress[tp].committed = position

    def forget(self, partitions: set[TopicPartition]) -> None:
        for tp in partitions:
            self._progress.pop(tp, None)

    def in_flight(self) -> int:
        return sum(len(progress.in_flight) for progress in self._progress.values())
