"""Early starts in the worker (workers/early_start.py), against the fake provider over real HTTP.

What a caller and the gateway's money depend on: a streamed early call publishes under one run that the
dispatch continues (ingress holds those deltas until the hold: tests/test_early_start_e2e.py), a checked or
unstreamed answer stays in the worker until the dispatch claims the call, and the dispatch never makes a second
provider call; a call nobody claims is cancelled; an early start that is stale, late (its job already
dispatched) or that asks otherwise than the dispatch is not started; and a worker that does not know early
starts cannot mistake one for a job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from fakeprovider.testing import RunningFakeProvider
from runtime.consume import job_identity
from schemas.catalogue import Catalogue
from schemas.events import (
    ChatJobDispatched,
    ChatJobEarlyStart,
    ChatJobHeld,
    ChatJobSubmitted,
    ChatParameters,
    ChatStreamDelta,
    PromptMessage,
    decode,
    encode,
    utc_now,
)
from schemas.guardrails import OutputChecks
from tests.provider_harness import clean_fake_fixture, client_fixture, fake_fixture
from workers import execution, streaming
from workers.early_start import EarlyStarts, Outcome
from workers.execution import ProviderSlot
from workers.lanes import LaneLimiter
from workers.providers.base import ProviderConfig
from workers.providers.client import ProviderClient
from workers.providers.registry import build_adapter
from workers.providers.streams.registry import build_stream_adapter
from workers.retry import RetryPolicy

__all__ = ["clean_fake_fixture", "client_fixture", "fake_fixture"]

MODEL = "openai/gpt-4.1-mini"
UPSTREAM = "gpt-4.1-mini"
POLICY = RetryPolicy(attempts_max=2, base_s=0.01, cap_s=0.05)


def submitted(
    job_id: str,
    *,
    stream: bool = True,
    text: str = "Tell the sea a story",
    max_tokens: int = 12,
    output_checks: OutputChecks | None = None,
) -> ChatJobSubmitted:
    return ChatJobSubmitted(
        workspace_id="ws_early",
        job_id=job_id,
        api_key_id="key_early",
        model_id=MODEL,
        route=(MODEL,),
        input_tokens_estimate=10,
        params=ChatParameters(
            messages=(PromptMessage(role="user", content=text),),
            max_tokens=max_tokens,
            stream=stream,
            output_checks=output_checks,
        ),
        deadline_at=utc_now() + timedelta(minutes=5),
    )


def dispatch_of(job: ChatJobSubmitted) -> ChatJobDispatched:
    """What the ledger sends once the hold committed."""
    return ChatJobDispatched(
        workspace_id=job.workspace_id,
        job_id=job.job_id,
        model_id=job.model_id,
        route=job.route,
        hold_tokens=500,
        params=job.params,
        deadline_at=job.deadline_at,
    )


def early_record(job: ChatJobSubmitted) -> bytes:
    return ChatJobEarlyStart.wrap(encode(job))


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def slots(fake: RunningFakeProvider, client: ProviderClient) -> dict[str, ProviderSlot]:
    config = ProviderConfig(name="openai", base_url=f"{fake.url}/openai/v1", api_key="sk-fake", client=client)
    return {
        "openai": ProviderSlot(
            adapter=build_adapter("openai", config),
            limiter=LaneLimiter(8, batch_max=4, batch_min=1),
            timeout_s=30,
            stream_adapter=build_stream_adapter("openai", config),
        )
    }


class Registry:
    """An `EarlyStarts`, what it counted and the deltas it published."""

    def __init__(self, catalogue: Catalogue, slots: dict[str, ProviderSlot], **options: float) -> None:
        self.outcomes: list[Outcome] = []
        self.published: list[ChatStreamDelta] = []
        self.starts = EarlyStarts(
            catalogue,
            slots,
            self.publish,
            calls_max=int(options.get("calls_max", 8)),
            claim_wait_s=options.get("claim_wait_s", 10.0),
            fresh_s=options.get("fresh_s", 2.0),
            deltas_before_hold=bool(options.get("deltas_before_hold", True)),
            counted=self.outcomes.append,
        )

    async def publish(self, delta: ChatStreamDelta) -> None:
        self.published.append(delta)


@pytest.fixture
async def registry(catalogue: Catalogue, slots: dict[str, ProviderSlot]) -> AsyncIterator[Registry]:
    registry = Registry(catalogue, slots)
    yield registry
    registry.starts.close()


async def until(condition: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_a_streamed_early_call_publishes_one_run_that_its_dispatch_continues_from_one_provider_call(
    fake: RunningFakeProvider, registry: Registry, catalogue: Catalogue, slots: dict[str, ProviderSlot]
) -> None:
    job = submitted("job_early_run", text="Sing of waves [fake stream_chunk_ms=20]", max_tokens=16)
    registry.starts.offer(early_record(job), now_ms())
    await until(lambda: len(registry.published) >= 2)
    early = registry.starts.claim(dispatch_of(job))
    assert early is not None
    usage = await streaming.execute_stream(dispatch_of(job), catalogue, slots, POLICY, registry.publish, early=early)
    assert usage.outcome == "completed" and usage.attempts == 1
    deltas = registry.published
    assert {delta.run_id for delta in deltas} == {early.run.run_id}, "the dispatch continues the early run"
    assert [delta.seq for delta in deltas] == list(range(len(deltas)))
    assert "".join(delta.text for delta in deltas) == usage.answer
    assert usage.answer is not None and usage.answer.startswith("Echo: Sing of waves")
    assert usage.first_token_ms is not None and deltas[0].first_token_ms == usage.first_token_ms
    assert fake.calls(UPSTREAM)["received"] == 1, "the dispatch ran the early call, not a second one"
    assert registry.outcomes == ["claimed"]


async def test_kept_until_claimed_the_deltas_wait_for_the_dispatch_then_go_out_in_order(
    fake: RunningFakeProvider, catalogue: Catalogue, slots: dict[str, ProviderSlot]
) -> None:
    registry = Registry(catalogue, slots, deltas_before_hold=False)
    try:
        job = submitted("job_early_kept", text="Sing of tides [fake stream_chunk_ms=10]", max_tokens=24)
        registry.starts.offer(early_record(job), now_ms())
        await until(lambda: fake.calls(UPSTREAM)["received"] == 1)
        await asyncio.sleep(0.1)  # several pieces came meanwhile
        assert registry.published == []
        early = registry.starts.claim(dispatch_of(job))
        usage = await streaming.execute_stream(
            dispatch_of(job), catalogue, slots, POLICY, registry.publish, early=early
        )
        deltas = registry.published
        assert usage.outcome == "completed" and "".join(delta.text for delta in deltas) == usage.answer
        assert [delta.seq for delta in deltas] == list(range(len(deltas))) and len(deltas) > 3
        assert fake.calls(UPSTREAM)["received"] == 1
    finally:
        registry.starts.close()


async def test_a_checked_answer_stays_in_the_worker_until_its_dispatch_and_checks(
    fake: RunningFakeProvider, registry: Registry, catalogue: Catalogue, slots: dict[str, ProviderSlot]
) -> None:
    job = submitted("job_early_checked", text="Write to sea@example.com", output_checks=OutputChecks(redact=("email",)))
    registry.starts.offer(early_record(job), now_ms())
    await until(lambda: fake.calls(UPSTREAM)["answered"] == 1)
    await asyncio.sleep(0.05)
    assert registry.published == []
    early = registry.starts.claim(dispatch_of(job))
    usage = await streaming.execute_stream(dispatch_of(job), catalogue, slots, POLICY, registry.publish, early=early)
    assert usage.outcome == "completed" and usage.answer is not None
    assert "sea@example.com" not in usage.answer
    assert "".join(delta.text for delta in registry.published) == usage.answer
    assert fake.calls(UPSTREAM)["received"] == 1


async def test_an_unstreamed_job_takes_its_early_answer(
    fake: RunningFakeProvider, registry: Registry, catalogue: Catalogue, slots: dict[str, ProviderSlot]
) -> None:
    job = submitted("job_early_sync", stream=False)
    registry.starts.offer(early_record(job), now_ms())
    await until(lambda: fake.calls(UPSTREAM)["answered"] == 1)
    early = registry.starts.claim(dispatch_of(job))
    usage = await execution.execute(dispatch_of(job), catalogue, slots, POLICY, early=early)
    assert usage.outcome == "completed" and usage.answer is not None
    assert usage.answer.startswith("Echo: Tell the sea a story")
    assert fake.calls(UPSTREAM)["received"] == 1


async def test_a_failed_early_call_is_the_first_attempt_and_the_job_retries(
    fake: RunningFakeProvider, registry: Registry, catalogue: Catalogue, slots: dict[str, ProviderSlot]
) -> None:
    fake.set_scenario(UPSTREAM, fail_status=503, fail_times=1)
    job = submitted("job_early_failed", stream=False)
    registry.starts.offer(early_record(job), now_ms())
    await until(lambda: len(fake.recorded_requests()) == 1)
    early = registry.starts.claim(dispatch_of(job))
    assert early is not None
    usage = await execution.execute(dispatch_of(job), catalogue, slots, POLICY, early=early)
    assert usage.outcome == "completed" and usage.attempts == 2


async def test_a_call_no_dispatch_claims_is_cancelled(
    fake: RunningFakeProvider, catalogue: Catalogue, slots: dict[str, ProviderSlot]
) -> None:
    registry = Registry(catalogue, slots, claim_wait_s=0.3)
    job = submitted("job_early_refused", text="A long tale [fake stream_chunk_ms=200]", max_tokens=40)
    registry.starts.offer(early_record(job), now_ms())
    await until(lambda: fake.calls(UPSTREAM)["received"] == 1)
    await until(lambda: len(registry.starts) == 0, timeout_s=5)
    assert registry.outcomes == ["unclaimed"]
    # The provider saw its caller go: the call is not left running.
    await until(lambda: fake.calls(UPSTREAM)["in_flight"] == 0, timeout_s=5)
    # A dispatch after all (a ledger far behind) runs the job as usual.
    assert registry.starts.claim(dispatch_of(job)) is None


async def test_early_calls_of_a_revoked_partition_are_cancelled_at_once(
    fake: RunningFakeProvider, registry: Registry
) -> None:
    kept = submitted("job_early_kept_partition", text="stay [fake stream_chunk_ms=200]", max_tokens=40)
    moved = submitted("job_early_moved_partition", text="go [fake stream_chunk_ms=200]", max_tokens=40)
    registry.starts.offer(early_record(kept), now_ms(), "partition-0")
    registry.starts.offer(early_record(moved), now_ms(), "partition-1")
    await until(lambda: fake.calls(UPSTREAM)["received"] == 2)
    registry.starts.revoke({"partition-1"})
    assert registry.outcomes == ["revoked"] and len(registry.starts) == 1
    # The new owner of the partition runs the moved job afresh; this worker keeps the other one.
    assert registry.starts.claim(dispatch_of(moved)) is None
    assert registry.starts.claim(dispatch_of(kept)) is not None


async def test_a_stale_early_start_is_not_started(fake: RunningFakeProvider, registry: Registry) -> None:
    registry.starts.offer(early_record(submitted("job_early_stale")), now_ms() - 10_000)
    await asyncio.sleep(0.1)
    assert registry.outcomes == ["stale"] and len(registry.starts) == 0
    assert fake.calls(UPSTREAM)["received"] == 0


async def test_an_early_start_behind_its_dispatch_is_not_started(fake: RunningFakeProvider, registry: Registry) -> None:
    job = submitted("job_early_late")
    assert registry.starts.claim(dispatch_of(job)) is None
    registry.starts.offer(early_record(job), now_ms())
    await asyncio.sleep(0.1)
    assert registry.outcomes == ["dispatched"]
    assert fake.calls(UPSTREAM)["received"] == 0


async def test_a_dispatch_that_asks_otherwise_does_not_take_the_early_call(
    fake: RunningFakeProvider, registry: Registry
) -> None:
    job = submitted("job_early_other")
    registry.starts.offer(early_record(job), now_ms())
    other = dispatch_of(submitted("job_early_other", text="something else entirely"))
    assert registry.starts.claim(other) is None
    assert registry.outcomes == ["mismatch"]


async def test_past_the_cap_early_starts_are_ignored(
    fake: RunningFakeProvider, catalogue: Catalogue, slots: dict[str, ProviderSlot]
) -> None:
    registry = Registry(catalogue, slots, calls_max=1)
    try:
        registry.starts.offer(early_record(submitted("job_early_1", text="x [fake stream_chunk_ms=100]")), now_ms())
        registry.starts.offer(early_record(submitted("job_early_2")), now_ms())
        assert registry.outcomes == ["full"] and len(registry.starts) == 1
    finally:
        registry.starts.close()


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x00\x01", b'{"type":"chat.job.early_start","version":1,"job":{"job_id":"j"}}', b"[1,2]", b"null"],
)
async def test_an_unreadable_early_start_costs_nothing(
    fake: RunningFakeProvider, registry: Registry, payload: bytes
) -> None:
    registry.starts.offer(payload, now_ms())
    assert registry.outcomes == ["unreadable"]
    assert fake.calls(UPSTREAM)["received"] == 0


def test_a_worker_that_does_not_know_early_starts_cannot_take_one_for_a_job() -> None:
    record = early_record(submitted("job_early_old_worker"))
    with pytest.raises(ValueError):
        decode(ChatJobDispatched, record)
    # An unreadable dispatch naming a job would be reported failed (releasing its hold): this one names none.
    assert job_identity(record) == (None, None)
    assert decode(ChatJobEarlyStart, record).job.job_id == "job_early_old_worker"


def test_a_provider_cannot_forge_the_ledgers_held_notice() -> None:
    """An answer that spells the notice's type travels JSON-escaped inside a delta: ingress never reads it as one."""
    delta = ChatStreamDelta(
        workspace_id="ws_early", job_id="job_forged", run_id="r", seq=0, text='{"type":"chat.job.held","version":1}'
    )
    assert not ChatJobHeld.is_one(encode(delta))
    assert ChatJobHeld.is_one(encode(ChatJobHeld(workspace_id="ws_early", job_id="job_forged")))
