"""Kafka's default partitioner (murmur2 of the key, as the Java client and aiokafka compute it), for less CPU.

aiokafka computes murmur2 byte by byte in Python: 2.5 % of the ledger's CPU while a batch drained (one job-id key
per dispatch) and 1.4 % of the workers' (one workspace key per usage event, the same few keys over and over).
`murmur2` here reads the key four bytes at a time with `struct`, and `KeyPartitioner` remembers the hashes of
recent keys. Both give the partition aiokafka's `DefaultPartitioner` gives, so a key lands where it always did
whichever producer sends it (tests/test_partitioning.py holds them equal).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence
from functools import lru_cache

_WORD = struct.Struct("<I")
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
# Hashes remembered: every workspace key a busy process sends to, with room for the job ids passing through.
KEYS_CACHED_MAX = 8192


def murmur2(data: bytes) -> int:
    """MurmurHash2 of `data` with Kafka's seed, as org.apache.kafka.common.utils.Utils.murmur2 (unsigned)."""
    length = len(data)
    tail = length & ~3
    h = 0x9747B28C ^ length
    for (k,) in _WORD.iter_unpack(data if tail == length else data[:tail]):
        k = (k * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    extra = length & 3
    if extra == 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra:
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


_cached_murmur2 = lru_cache(maxsize=KEYS_CACHED_MAX)(murmur2)


class KeyPartitioner:
    """A producer's `partitioner`: aiokafka's `DefaultPartitioner`, with the hash computed as above."""

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        return all_partitions[(_cached_murmur2(bytes(key)) & 0x7FFFFFFF) % len(all_partitions)]
