"""Worker rules: the retry schedule, in-order offset commits, and running a job over its route with fake adapters."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from runtime.catalogue_file import load_catalogue
from schemas.api import RoutingHints
from schemas.catalogue import Catalogue
from schemas.errors import ERRORS, ErrorCode
from schemas.events import ChatJobDispatched, ChatParameters, PromptMessage, UsageRecorded, decode, encode
from workers.execution import ProviderSlot, execute, job_code
from workers.lanes import LaneLimiter
from workers.offsets import OffsetTracker
from workers.providers import errors as provider_codes
from workers.providers.base import (
    ProviderAuthFailed,
    ProviderCall,
    ProviderError,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderResult,
    ProviderTimeout,
    ProviderUnavailable,
)
from workers.retry import RetryPolicy

CATALOGUE_PATH = Path(__file__).resolve().parents[1] / "config" / "models.toml"
FAST = RetryPolicy(attempts_max=3, base_s=0.001, cap_s=0.01)

# --- RetryPolicy ------------------------------------------------------------------------------------------


def ceiling_s(policy: RetryPolicy, attempt: int) -> float:
    return min(policy.cap_s, policy.base_s * 2.0 ** (attempt - 1))


@pytest.mark.parametrize("attempt", range(1, 12))
def test_backoff_is_jittered_within_the_exponential_ceiling_and_the_cap(attempt: int) -> None:
    policy = RetryPolicy(attempts_max=12, base_s=0.5, cap_s=30.0)
    rng = random.Random(attempt)

    delays = [policy.delay_s(attempt, None, rng) for _ in range(200)]

    assert all(0 < delay <= ceiling_s(policy, attempt) for delay in delays)
    assert len(set(delays)) > 100, "delays are jittered, not fixed"
    # The draws reach close to the ceiling, so the schedule really grows (and stops at the cap).
    assert max(delays) > 0.9 * ceiling_s(policy, attempt)


def test_backoff_grows_exponentially_until_the_cap() -> None:
    policy = RetryPolicy(attempts_max=10, base_s=1.0, cap_s=20.0)
    rng = random.Random(11)

    largest = [max(policy.delay_s(attempt, None, rng) for _ in range(300)) for attempt in range(1, 9)]

    assert largest[0] <= 1.0 < largest[1] <= 2.0 < largest[2] <= 4.0 < largest[3] <= 8.0 < largest[4] <= 16.0
    assert all(16.0 < delay <= 20.0 for delay in largest[5:])


@given(st.integers(1, 60), st.floats(0.001, 10), st.floats(0.001, 100), st.integers(0, 2**32))
def test_backoff_never_exceeds_the_cap(attempt: int, base_s: float, cap_s: float, seed: int) -> None:
    policy = RetryPolicy(attempts_max=60, base_s=base_s, cap_s=cap_s)

    assert 0 < policy.delay_s(attempt, None, random.Random(seed)) <= cap_s


def test_the_same_seed_gives_the_same_schedule() -> None:
    policy = RetryPolicy(attempts_max=5, base_s=0.2, cap_s=5.0)

    first = [policy.delay_s(attempt, None, random.Random(3)) for attempt in range(1, 6)]
    second = [policy.delay_s(attempt, None, random.Random(3)) for attempt in range(1, 6)]

    assert first == second


@pytest.mark.parametrize(
    ("retry_after_s", "delay_s"),
    [(0.0, 0.0), (1.5, 1.5), (7.0, 7.0), (10.0, 10.0), (11.0, 10.0), (3600.0, 10.0), (-5.0, 0.0)],
)
def test_a_providers_retry_after_wins_and_is_capped(retry_after_s: float, delay_s: float) -> None:
    policy = RetryPolicy(attempts_max=3, base_s=0.001, cap_s=10.0)

    assert policy.delay_s(1, retry_after_s, random.Random(0)) == delay_s
    assert policy.delay_s(5, retry_after_s, random.Random(0)) == delay_s


# --- OffsetTracker ----------------------------------------------------------------------------------------

TP = TopicPartition("luntrex.dispatch.openai.interactive", 0)
OTHER = TopicPartition("luntrex.dispatch.openai.interactive", 1)


def test_out_of_order_completions_never_commit_past_an_unfinished_offset() -> None:
    tracker = OffsetTracker()
    for offset in (10, 11, 12):
        tracker.started(TP, offset)

    tracker.done(TP, 12)
    tracker.done(TP, 11)
    assert tracker.committable() == {TP: 10}

    tracker.done(TP, 10)
    assert tracker.committable() == {TP: 13}
    assert tracker.in_flight() == 0


def test_commit_positions_advance_as_gaps_fill() -> None:
    tracker = OffsetTracker()
    for offset in range(5):
        tracker.started(TP, offset)
    positions = []

    for offset in (1, 0, 3, 2, 4):
        tracker.done(TP, offset)
        positions.append(tracker.committable()[TP])

    assert positions == [0, 2, 2, 4, 5]


def test_a_committed_position_is_not_offered_again_until_work_moves_it() -> None:
    tracker = OffsetTracker()
    tracker.started(TP, 0)
    tracker.started(TP, 1)
    tracker.done(TP, 0)
    tracker.mark_committed(tracker.committable())

    assert tracker.committable() == {}
    tracker.done(TP, 1)
    assert tracker.committable() == {TP: 2}


def test_partitions_are_tracked_apart() -> None:
    tracker = OffsetTracker()
    tracker.started(TP, 0)
    tracker.started(OTHER, 40)
    tracker.started(OTHER, 41)

    tracker.done(OTHER, 41)
    tracker.done(TP, 0)

    assert tracker.committable() == {TP: 1, OTHER: 40}


def test_forget_drops_revoked_partitions() -> None:
    tracker = OffsetTracker()
    tracker.started(TP, 0)
    tracker.started(OTHER, 5)

    tracker.forget({TP})

    assert tracker.committable() == {OTHER: 5}
    assert tracker.in_flight() == 1
    tracker.forget({TP})


def test_a_partition_assigned_again_after_forget_starts_fresh() -> None:
    tracker = OffsetTracker()
    tracker.started(TP, 7)
    tracker.done(TP, 7)
    tracker.mark_committed(tracker.committable())
    tracker.forget({TP})

    tracker.started(TP, 8)
    tracker.done(TP, 8)

    assert tracker.committable() == {TP: 9}


@given(st.permutations(list(range(12))), st.integers(0, 1000))
def test_any_completion_order_commits_exactly_the_finished_prefix(order: list[int], first_offset: int) -> None:
    tracker = OffsetTracker()
    offsets = [first_offset + index for index in range(len(order))]
    for offset in offsets:
        tracker.started(TP, offset)
    finished: set[int] = set()
    committed = first_offset

    for index in order:
        tracker.done(TP, offsets[index])
        finished.add(offsets[index])
        positions = tracker.committable()
        position = positions.get(TP, committed)
        assert all(offset in finished for offset in range(first_offset, position)), "committed past unfinished work"
        expected = next((offset for offset in offsets if offset not in finished), offsets[-1] + 1)
        assert position == expected
        assert position >= committed
        tracker.mark_committed(positions)
        committed = position

    assert committed == offsets[-1] + 1


# --- execute ------------------------------------------------------------------------------------------------


Outcome = ProviderResult | ProviderError


class ScriptedAdapter:
    """A provider that answers each call with the next scripted outcome and remembers every call it got."""

    def __init__(self, name: str, script: Sequence[Outcome] = ()) -> None:
        self.name = name
        self.script = list(script)
        self.calls: list[ProviderCall] = []

    async def complete(self, call: ProviderCall) -> ProviderResult:
        self.calls.append(call)
        assert self.script, f"{self.name} was called more often than the test scripted"
        outcome = self.script.pop(0)
        if isinstance(outcome, ProviderError):
            raise outcome
        return outcome


def answer(text: str = "Echo: hi", *, input_tokens: int = 7, output_tokens: int = 3) -> ProviderResult:
    return ProviderResult(
        text=text,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        finish_reason="stop",
        upstream_model="upstream",
    )


def unavailable() -> ProviderUnavailable:
    return ProviderUnavailable(message="overloaded", retriable=True, status=503, code="upstream_unavailable")


def rate_limited(retry_after_s: float | None = 0.001) -> ProviderRateLimited:
    return ProviderRateLimited(
        message="slow down", retriable=True, status=429, code="rate_limited", retry_after_s=retry_after_s
    )


def timed_out() -> ProviderTimeout:
    return ProviderTimeout(message="no answer", retriable=True, code="upstream_timeout")


def rejected(code: str = "invalid_request") -> ProviderRejected:
    return ProviderRejected(message="bad max_tokens", retriable=False, status=400, code=code)


def dispatched(
    *, route: tuple[str, ...] = ("openai/gpt-4.1-mini",), max_tokens: int = 100, **params: Any
) -> ChatJobDispatched:
    return ChatJobDispatched(
        workspace_id="ws_workers",
        job_id="job_workers",
        traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01",
        model_id=route[0],
        route=route,
        hold_tokens=1000,
        params=ChatParameters(
            messages=(PromptMessage(role="system", content="be brief"), PromptMessage(role="user", content="hi")),
            max_tokens=max_tokens,
            **params,
        ),
    )


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(CATALOGUE_PATH)


def slots(*adapters: ScriptedAdapter, timeout_s: float = 42.0) -> dict[str, ProviderSlot]:
    return {
        adapter.name: ProviderSlot(adapter, LaneLimiter(4, batch_max=3, batch_min=1), timeout_s) for adapter in adapters
    }


async def run(
    job: ChatJobDispatched, catalogue: Catalogue, *adapters: ScriptedAdapter, policy: RetryPolicy = FAST
) -> UsageRecorded:
    return await asyncio.wait_for(execute(job, catalogue, slots(*adapters), policy), timeout=5)


async def test_a_first_answer_is_recorded_with_the_model_and_usage(catalogue: Catalogue) -> None:
    openai = ScriptedAdapter("openai", [answer("Echo: hi", input_tokens=9, output_tokens=2)])
    job = dispatched(temperature=0.5, top_p=0.9, stop=("END",))

    usage = await run(job, catalogue, openai)

    assert (usage.outcome, usage.model_id, usage.provider, usage.attempts) == (
        "completed",
        "openai/gpt-4.1-mini",
        "openai",
        1,
    )
    assert (usage.input_tokens, usage.output_tokens, usage.answer, usage.finish_reason) == (9, 2, "Echo: hi", "stop")
    assert (usage.workspace_id, usage.job_id, usage.traceparent) == (job.workspace_id, job.job_id, job.traceparent)
    assert openai.calls == [
        ProviderCall(
            upstream_model="gpt-4.1-mini",
            messages=job.params.messages,
            max_tokens=100,
            temperature=0.5,
            top_p=0.9,
            stop=("END",),
            timeout_s=42.0,
            max_tokens_field="max_tokens",
        )
    ]


async def test_a_retriable_error_is_retried_then_the_answer_counts_every_attempt(catalogue: Catalogue) -> None:
    openai = ScriptedAdapter("openai", [unavailable(), rate_limited(), answer()])

    usage = await run(dispatched(), catalogue, openai)

    assert (usage.outcome, usage.model_id, usage.attempts) == ("completed", "openai/gpt-4.1-mini", 3)
    assert len(openai.calls) == 3
    assert openai.calls[0] == openai.calls[2], "a retry sends the same call"


@pytest.mark.parametrize(
    "error",
    [rejected(), ProviderRejected(message="prompt is too long", retriable=False, status=413, code="invalid_request")],
)
async def test_a_request_the_provider_refused_ends_the_job_at_once(catalogue: Catalogue, error: ProviderError) -> None:
    # The next model would be sent the same request: it ends the job, nothing charged.
    openai = ScriptedAdapter("openai", [error])
    gemini = ScriptedAdapter("gemini", [answer()])

    usage = await run(dispatched(route=("openai/gpt-4.1-mini", "gemini/gemini-2.5-flash")), catalogue, openai, gemini)

    assert usage.outcome == "failed"
    assert usage.error is not None
    assert usage.error.code == ErrorCode.INVALID_REQUEST
    assert (usage.attempts, len(openai.calls), gemini.calls) == (1, 1, [])
    assert (usage.model_id, usage.input_tokens, usage.output_tokens) == (None, 0, 0)


# The gateway's own standing with a provider: its credentials refused, its quota spent.
STANDING_FAILURES = [
    (ProviderAuthFailed(message="bad key", retriable=False, status=401), ErrorCode.UPSTREAM_ERROR),
    (ProviderRateLimited(message="quota", retriable=False, status=402, code="quota_exhausted"), ErrorCode.RATE_LIMITED),
]


@pytest.mark.parametrize(("error", "code"), STANDING_FAILURES, ids=["credentials", "quota"])
async def test_the_gateways_standing_with_a_provider_is_not_retried_on_its_model_but_falls_back(
    catalogue: Catalogue, error: ProviderError, code: ErrorCode
) -> None:
    openai = ScriptedAdapter("openai", [error])
    gemini = ScriptedAdapter("gemini", [answer()])

    usage = await run(dispatched(route=("openai/gpt-4.1-mini", "gemini/gemini-2.5-flash")), catalogue, openai, gemini)

    assert (usage.outcome, usage.model_id, usage.attempts) == ("completed", "gemini/gemini-2.5-flash", 2)
    assert (len(openai.calls), len(gemini.calls)) == (1, 1)


@pytest.mark.parametrize(("error", "code"), STANDING_FAILURES, ids=["credentials", "quota"])
async def test_the_gateways_standing_on_the_last_model_ends_the_job_with_its_code(
    catalogue: Catalogue, error: ProviderError, code: ErrorCode
) -> None:
    openai = ScriptedAdapter("openai", [error])

    usage = await run(dispatched(), catalogue, openai)

    assert usage.outcome == "failed"
    assert usage.error is not None
    assert (usage.error.code, usage.attempts, len(openai.calls)) == (code, 1, 1)
    assert (usage.model_id, usage.input_tokens, usage.output_tokens) == (None, 0, 0)


def upstream_not_found() -> ProviderUnavailable:
    return ProviderUnavailable(
        message="no such model", retriable=False, status=404, code=provider_codes.UPSTREAM_NOT_FOUND
    )


async def test_a_providers_404_is_not_retried_on_its_model_but_falls_back(catalogue: Catalogue) -> None:
    # The catalogue lists the model, so the provider's 404 is a misconfigured deployment: the same call would
    # fail alike, another model of the route may answer.
    openai = ScriptedAdapter("openai", [upstream_not_found()])
    gemini = ScriptedAdapter("gemini", [answer()])

    usage = await run(dispatched(route=("openai/gpt-4.1-mini", "gemini/gemini-2.5-flash")), catalogue, openai, gemini)

    assert (usage.outcome, usage.model_id, usage.attempts) == ("completed", "gemini/gemini-2.5-flash", 2)
    assert (len(openai.calls), len(gemini.calls)) == (1, 1)


async def test_a_providers_404_on_the_last_model_fails_the_job_as_an_upstream_error(catalogue: Catalogue) -> None:
    openai = ScriptedAdapter("openai", [upstream_not_found()])

    usage = await run(dispatched(), catalogue, openai)

    assert usage.error is not None
    assert (usage.outcome, usage.error.code, usage.attempts) == ("failed", ErrorCode.UPSTREAM_ERROR, 1)
    assert ERRORS[usage.error.code].status == 502
    assert "does not serve this model" in usage.error.message


async def test_rate_limiting_on_every_attempt_fails_rate_limited_with_a_retry_after(catalogue: Catalogue) -> None:
    openai = ScriptedAdapter("openai", [rate_limited(0.001), rate_limited(0.001), rate_limited(2.5)])
    policy = RetryPolicy(attempts_max=3, base_s=0.001, cap_s=5.0)

    usage = await run(dispatched(), catalogue, openai, policy=policy)

    assert usage.outcome == "failed"
    assert usage.error is not None
    assert usage.error.code == ErrorCode.RATE_LIMITED
    # The caller is told to come back no sooner than the provider asked, in whole seconds.
    assert usage.error.retry_after_s == 3
    assert usage.attempts == len(openai.calls) == 3


async def test_timing_out_on_every_attempt_fails_upstream_timeout(catalogue: Catalogue) -> None:
    openai = ScriptedAdapter("openai", [timed_out(), timed_out(), timed_out()])

    usage = await run(dispatched(), catalogue, openai)

    assert usage.outcome == "failed"
    assert usage.error is not None
    assert usage.error.code == ErrorCode.UPSTREAM_TIMEOUT
    assert usage.error.retry_after_s is None
    assert usage.attempts == 3


async def test_exhausting_a_model_falls_back_to_the_next_and_names_the_model_that_answered(
    catalogue: Catalogue,
) -> None:
    openai = ScriptedAdapter("openai", [unavailable(), timed_out(), unavailable()])
    gemini = ScriptedAdapter("gemini", [unavailable(), answer("from gemini", input_tokens=4, output_tokens=5)])

    usage = await run(dispatched(route=("openai/gpt-4.1-mini", "gemini/gemini-2.5-flash")), catalogue, openai, gemini)

    assert usage.outcome == "completed"
    assert (usage.model_id, usage.provider, usage.answer) == ("gemini/gemini-2.5-flash", "gemini", "from gemini")
    assert (usage.input_tokens, usage.output_tokens) == (4, 5)
    assert usage.attempts == 5
    assert [call.upstream_model for call in gemini.calls] == ["gemini-2.5-flash", "gemini-2.5-flash"]


async def test_when_every_model_is_exhausted_the_last_error_is_reported(catalogue: Catalogue) -> None:
    openai = ScriptedAdapter("openai", [rate_limited()] * 3)
    gemini = ScriptedAdapter("gemini", [timed_out()] * 3)

    usage = await run(dispatched(route=("openai/gpt-4.1-mini", "gemini/gemini-2.5-flash")), catalogue, openai, gemini)

    assert usage.outcome == "failed"
    assert usage.error is not None
    assert usage.error.code == ErrorCode.UPSTREAM_TIMEOUT
    assert usage.attempts == 6


async def test_a_retry_after_longer_than_the_cap_skips_straight_to_the_fallback(catalogue: Catalogue) -> None:
    openai = ScriptedAdapter("openai", [rate_limited(retry_after_s=120.0)])
    gemini = ScriptedAdapter("gemini", [answer()])
    loop = asyncio.get_running_loop()
    started = loop.time()

    usage = await run(dispatched(route=("openai/gpt-4.1-mini", "gemini/gemini-2.5-flash")), catalogue, openai, gemini)

    assert (usage.outcome, usage.model_id, usage.attempts) == ("completed", "gemini/gemini-2.5-flash", 2)
    assert len(openai.calls) == 1
    assert loop.time() - started < FAST.cap_s + 1


async def test_a_long_retry_after_on_the_only_model_fails_with_that_retry_after(catalogue: Catalogue) -> None:
    openai = ScriptedAdapter("openai", [rate_limited(retry_after_s=120.0)])

    usage = await run(dispatched(), catalogue, openai)

    assert usage.error is not None
    assert (usage.outcome, usage.error.code, usage.error.retry_after_s, usage.attempts) == (
        "failed",
        ErrorCode.RATE_LIMITED,
        121,
        1,
    )


async def test_max_tokens_is_clamped_to_the_fallbacks_output_limit(catalogue: Catalogue) -> None:
    llama_limit = catalogue.get("meta/llama-3.1-8b-instruct").max_output_tokens
    openai = ScriptedAdapter("openai", [unavailable()] * 3)
    llama = ScriptedAdapter("llama", [answer()])
    job = dispatched(route=("openai/gpt-5", "meta/llama-3.1-8b-instruct"), max_tokens=100_000)

    usage = await run(job, catalogue, openai, llama)

    assert usage.model_id == "meta/llama-3.1-8b-instruct"
    assert {(call.upstream_model, call.max_tokens, call.max_tokens_field) for call in openai.calls} == {
        ("gpt-5", 100_000, "max_completion_tokens")
    }
    assert [(call.upstream_model, call.max_tokens, call.max_tokens_field) for call in llama.calls] == [
        ("meta-llama/Llama-3.1-8B-Instruct", llama_limit, "max_tokens")
    ]
    assert llama_limit < 100_000


async def test_a_max_tokens_under_the_limit_is_sent_unchanged(catalogue: Catalogue) -> None:
    llama = ScriptedAdapter("llama", [answer()])

    await run(dispatched(route=("meta/llama-3.1-8b-instruct",), max_tokens=17), catalogue, llama)

    assert llama.calls[0].max_tokens == 17


async def test_the_requests_provider_timeout_overrides_the_providers(catalogue: Catalogue) -> None:
    openai = ScriptedAdapter("openai", [answer()])

    await run(dispatched(routing=RoutingHints(provider_timeout_s=2.5)), catalogue, openai)

    assert openai.calls[0].timeout_s == 2.5


def test_a_job_finishing_after_its_partition_was_revoked_is_ignored() -> None:
    tracker = OffsetTracker()
    tp = TopicPartition("dispatch.openai.interactive", 0)
    tracker.started(tp, 5)
    tracker.forget({tp})
    tracker.done(tp, 5)
    assert tracker.committable() == {}


# --- deadlines ----------------------------------------------------------------------------------------------


def with_deadline(job: ChatJobDispatched, seconds_from_now: float) -> ChatJobDispatched:
    return job.model_copy(update={"deadline_at": datetime.now(UTC) + timedelta(seconds=seconds_from_now)})


async def test_a_job_past_its_deadline_is_expired_without_calling_any_provider(catalogue: Catalogue) -> None:
    openai = ScriptedAdapter("openai", [])
    gemini = ScriptedAdapter("gemini", [])
    job = with_deadline(dispatched(route=("openai/gpt-4.1-mini", "gemini/gemini-2.5-flash")), -1)

    usage = await run(job, catalogue, openai, gemini)

    assert (usage.outcome, usage.attempts, usage.input_tokens, usage.output_tokens) == ("expired", 0, 0, 0)
    assert usage.error is not None and usage.error.code == ErrorCode.EXPIRED
    assert openai.calls == gemini.calls == []


async def test_a_deadline_naive_of_a_timezone_is_read_as_utc(catalogue: Catalogue) -> None:
    openai = ScriptedAdapter("openai", [])
    job = dispatched().model_copy(update={"deadline_at": datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)})

    assert (await run(job, catalogue, openai)).outcome == "expired"


async def test_the_provider_timeout_is_cut_to_the_time_left(catalogue: Catalogue) -> None:
    openai = ScriptedAdapter("openai", [answer()])

    usage = await run(with_deadline(dispatched(), 3), catalogue, openai)

    assert usage.outcome == "completed"
    assert 0 < openai.calls[0].timeout_s <= 3 < 42


async def test_a_far_deadline_leaves_the_provider_timeout_alone(catalogue: Catalogue) -> None:
    openai = ScriptedAdapter("openai", [answer()])

    await run(with_deadline(dispatched(), 3600), catalogue, openai)

    assert openai.calls[0].timeout_s == 42.0


async def test_backoff_never_sleeps_past_the_deadline(catalogue: Catalogue) -> None:
    # Backoff of 20-40 s per retry, and a deadline 0.5 s away: the job ends at its deadline, not after a sleep.
    openai = ScriptedAdapter("openai", [unavailable()] * 3)
    slow_policy = RetryPolicy(attempts_max=3, base_s=40.0, cap_s=40.0)
    loop = asyncio.get_running_loop()
    started = loop.time()

    usage = await run(with_deadline(dispatched(), 0.5), catalogue, openai, policy=slow_policy)

    assert loop.time() - started < 4
    assert (usage.outcome, usage.attempts, len(openai.calls)) == ("expired", 1, 1)
    assert usage.error is not None and usage.error.code == ErrorCode.EXPIRED


# --- what a result carries ----------------------------------------------------------------------------------


async def test_estimated_usage_is_flagged_in_the_usage_event(catalogue: Catalogue) -> None:
    estimated = ProviderResult(
        text="hi", input_tokens=12, output_tokens=2, finish_reason="stop", upstream_model="u", usage_estimated=True
    )
    llama = ScriptedAdapter("llama", [estimated])

    usage = await run(dispatched(route=("meta/llama-3.1-8b-instruct",)), catalogue, llama)

    assert (usage.outcome, usage.usage_estimated) == ("completed", True)
    assert decode(UsageRecorded, encode(usage)).usage_estimated is True


async def test_a_provider_error_text_with_nul_reaches_the_event_without_it(catalogue: Catalogue) -> None:
    broken = ProviderUnavailable(message="bad\x00gateway " + "y" * 100_000, retriable=False, status=500)
    openai = ScriptedAdapter("openai", [broken])

    usage = await run(dispatched(), catalogue, openai)

    assert usage.error is not None
    assert "bad\ufffdgateway" in usage.error.message and "\x00" not in usage.error.message
    assert len(usage.error.message) < 1200


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ProviderUnavailable(message="refused", retriable=True, code=provider_codes.UPSTREAM_UNAVAILABLE), 502),
        (ProviderUnavailable(message="5xx", retriable=True, code=provider_codes.UPSTREAM_ERROR), 502),
        (ProviderProtocolError(message="odd", retriable=True, code=provider_codes.PROTOCOL_ERROR), 502),
        (ProviderProtocolError(message="big", retriable=False, code=provider_codes.ANSWER_TOO_LARGE), 502),
        (ProviderAuthFailed(message="key", retriable=False, code=provider_codes.UPSTREAM_AUTH_FAILED), 502),
        (ProviderTimeout(message="slow", retriable=True, code=provider_codes.UPSTREAM_TIMEOUT), 504),
        (ProviderRateLimited(message="429", retriable=True, code=provider_codes.RATE_LIMITED), 429),
        (ProviderRateLimited(message="quota", retriable=False, code=provider_codes.QUOTA_EXHAUSTED), 429),
        (ProviderRejected(message="400", retriable=False, code=provider_codes.INVALID_REQUEST), 400),
        (ProviderRejected(message="413", retriable=False, code=provider_codes.PAYLOAD_TOO_LARGE), 400),
        (ProviderRejected(message="blocked", retriable=False, code=provider_codes.CONTENT_BLOCKED), 400),
        # A provider's 404 for a model the catalogue lists is the gateway's configuration, not the caller's model.
        (ProviderUnavailable(message="404", retriable=False, code=provider_codes.UPSTREAM_NOT_FOUND), 502),
        (ProviderRejected(message="404", retriable=False, code="model_not_found"), 502),
        # A provider never speaks for our own queue, credit or bugs: such a code is an upstream error.
        (ProviderUnavailable(message="x", retriable=True, code="unavailable"), 502),
        (ProviderUnavailable(message="x", retriable=True, code="insufficient_credits"), 502),
        (ProviderUnavailable(message="x", retriable=True, code="never-heard-of-it"), 502),
    ],
)
def test_each_provider_failure_reaches_the_caller_with_the_status_of_the_one_error_table(
    error: ProviderError, status: int
) -> None:
    assert ERRORS[job_code(error)].status == status
