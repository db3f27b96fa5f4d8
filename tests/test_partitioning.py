"""Our partitioner sends every key where aiokafka's default partitioner does (and Kafka's Java client): a record
keyed by a workspace or a job lands on the same partition whichever of our producers sends it, as before."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from runtime.partitioning import KeyPartitioner, murmur2


def test_murmur2_equals_aiokafkas_for_keys_of_every_length_and_byte() -> None:
    rng = random.Random(9)
    keys = [b"", b"\x00", b"\xff" * 7, "wörkspace_ü".encode()] + [
        rng.randbytes(rng.randint(0, 96)) for _ in range(5000)
    ]
    assert [murmur2(key) for key in keys] == [aiokafka_murmur2(key) for key in keys]


def test_the_partition_of_a_key_is_aiokafkas_whatever_the_partition_count_and_however_often_it_is_asked() -> None:
    ours, theirs = KeyPartitioner(), DefaultPartitioner()
    rng = random.Random(11)
    keys = [f"ws_{n:012x}".encode() for n in range(200)] + [
        f"bj_{rng.getrandbits(128):032x}_{n}".encode() for n in range(2000)
    ]
    for count in (1, 3, 12, 64):
        partitions = list(range(count))
        for key in keys + keys[:300]:
            assert ours(key, partitions, partitions) == theirs(key, partitions, partitions)
    # A record without a key goes to any available partition.
    assert ours(None, [0, 1, 2], [2]) == 2
