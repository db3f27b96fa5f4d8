"""Opportunistic batches: a lone item runs at once, items arriving meanwhile form the next batch."""

from __future__ import annotations

import asyncio

from ledger.batches import Batches


async def test_a_lone_item_runs_at_once_and_items_arriving_meanwhile_form_the_next_batch() -> None:
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def run(items: list[int]) -> None:
        batches.append(items)
        if len(batches) == 1:
            await release.wait()

    gathered = Batches(run, batch_max=100)
    first = asyncio.create_task(gathered.submit(0))
    await asyncio.sleep(0)
    assert batches == [[0]]  # nobody waited for company
    rest = [asyncio.create_task(gathered.submit(n)) for n in range(1, 6)]
    await asyncio.sleep(0)
    assert len(gathered) == 5
    release.set()
    await asyncio.gather(first, *rest)
    assert batches == [[0], [1, 2, 3, 4, 5]]
    assert len(gathered) == 0


async def test_a_batch_never_exceeds_its_maximum_and_keeps_arrival_order() -> None:
    batches: list[list[int]] = []

    async def run(items: list[int]) -> None:
        batches.append(items)
        await asyncio.sleep(0.001)

    gathered = Batches(run, batch_max=3)
    await asyncio.gather(*(gathered.submit(n) for n in range(10)))
    assert all(len(batch) <= 3 for batch in batches)
    assert [n for batch in batches for n in batch] == list(range(10))


async def test_a_cancelled_leader_hands_its_unprocessed_items_to_the_next_leader() -> None:
    processed: list[int] = []
    started = asyncio.Event()

    async def run(items: list[int]) -> None:
        if items[0] == 0:
            started.set()
            await asyncio.sleep(3600)  # cancelled while running
        processed.extend(items)

    gathered = Batches(run, batch_max=100)
    leader = asyncio.create_task(gathered.submit(0))
    await started.wait()
    waiting = [asyncio.create_task(gathered.submit(n)) for n in (1, 2)]
    await asyncio.sleep(0)
    # 1 and 2 arrived during the first batch; now form the second, led by 1 once 0's leader is gone.
    leader.cancel()
    await asyncio.wait_for(asyncio.gather(*waiting), timeout=5)
    assert processed == [1, 2]


async def test_a_lingering_leader_waits_for_company_up_to_its_linger_and_no_longer() -> None:
    batches: list[list[int]] = []

    async def run(items: list[int]) -> None:
        batches.append(items)

    gathered = Batches(run, batch_max=10, linger_s=0.2, fill_min=3)
    first = asyncio.create_task(gathered.submit(0))
    await asyncio.sleep(0)
    assert batches == []  # the leader lingers for company
    await asyncio.gather(first, gathered.submit(1), gathered.submit(2))
    assert batches == [[0, 1, 2]]  # the third item filled the batch: it ran at once
    lone = asyncio.create_task(gathered.submit(3))
    await asyncio.wait_for(lone, timeout=5)
    assert batches == [[0, 1, 2], [3]]  # alone, it ran once its linger was over


async def test_a_leader_cancelled_while_lingering_drops_its_item_and_passes_the_lead() -> None:
    batches: list[list[int]] = []

    async def run(items: list[int]) -> None:
        batches.append(items)

    gathered = Batches(run, batch_max=10, linger_s=30, fill_min=3)
    leader = asyncio.create_task(gathered.submit(0))
    await asyncio.sleep(0)
    follower = asyncio.create_task(gathered.submit(1))
    await asyncio.sleep(0)
    leader.cancel()
    await asyncio.gather(leader, return_exceptions=True)
    assert len(gathered) == 1  # the follower's item, now leading and lingering in turn
    await asyncio.gather(gathered.submit(2), gathered.submit(3), follower)
    assert batches == [[1, 2, 3]]
    assert len(gathered) == 0
