"""Which admitted jobs the ledger sends a held notice (`ChatJobHeld` on `jobs.stream`) with their dispatch.

Ingress starts every stream (its 200 and SSE keep-alives) on the notice, so a slow first token never leaves the
caller in silence past its read timeout, and keeps an early-started stream's deltas unsent until the notice says the
credit is held: every streamed dispatch is noticed, whether or not its ingress sent an early start.
"""

from __future__ import annotations

import orjson
import pytest

from ledger import admission
from schemas import topics
from schemas.errors import ErrorCode
from schemas.events import (
    ChatJobDispatched,
    ChatJobHeld,
    ChatJobSubmitted,
    ChatParameters,
    JobError,
    JobFinished,
    PromptMessage,
    decode,
    encode,
)

MODEL = "openai/gpt-4.1-mini"
DISPATCH = "dispatch.openai.interactive"


def submitted(job_id: str, *, stream: bool = True, early_start: bool | None = None) -> ChatJobSubmitted:
    return ChatJobSubmitted(
        workspace_id="ws_notice",
        job_id=job_id,
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        api_key_id="key_notice",
        model_id=MODEL,
        route=(MODEL,),
        input_tokens_estimate=10,
        params=ChatParameters(messages=(PromptMessage(role="user", content="hi"),), max_tokens=16, stream=stream),
        early_start=early_start,
    )


def dispatched(job: ChatJobSubmitted) -> tuple[str, ChatJobDispatched]:
    return DISPATCH, ChatJobDispatched(
        workspace_id=job.workspace_id,
        job_id=job.job_id,
        model_id=job.model_id,
        route=job.route,
        hold_tokens=26,
        params=job.params,
    )


def notices(records: list[admission.Outgoing]) -> list[str]:
    return [event.job_id for topic, _, event in records if topic == topics.JOBS_STREAM]


@pytest.mark.parametrize(
    "early_start", [True, None, False], ids=["early-started", "not-told-by-an-older-ingress", "not-early-started"]
)
def test_every_streamed_dispatch_is_noticed(early_start: bool | None) -> None:
    job = submitted("job_stream", early_start=early_start)
    records, ids = admission.outgoing([job], [dispatched(job)])
    assert ids == ["job_stream"]
    assert [(topic, key) for topic, key, _ in records][:1] == [(DISPATCH, topics.job_key("job_stream"))]
    assert notices(records) == ["job_stream"]
    topic, key, notice = records[1]
    assert topic == topics.JOBS_STREAM
    assert isinstance(notice, ChatJobHeld) and key == topics.job_key("job_stream")
    assert (notice.workspace_id, notice.traceparent) == ("ws_notice", job.traceparent)


@pytest.mark.parametrize("early_start", [True, None, False])
def test_an_unstreamed_dispatch_is_never_noticed(early_start: bool | None) -> None:
    job = submitted("job_plain", stream=False, early_start=early_start)
    records, ids = admission.outgoing([job], [dispatched(job)])
    assert ids == ["job_plain"] and notices(records) == [] and len(records) == 1


def test_a_refused_or_replayed_stream_gets_its_result_or_nothing_and_no_notice() -> None:
    refused, replayed = submitted("job_refused", early_start=True), submitted("job_replayed", early_start=True)
    finished = JobFinished(
        workspace_id="ws_notice",
        job_id="job_refused",
        model_id=MODEL,
        status="rejected",
        balance_left=0,
        error=JobError(code=ErrorCode.INSUFFICIENT_CREDITS, message="Insufficient credits"),
    )
    records, ids = admission.outgoing([refused, replayed], [finished, None])
    assert ids == [] and [(topic, event) for topic, _, event in records] == [(topics.JOBS_RESULTS, finished)]


def test_the_same_submission_twice_in_a_batch_is_dispatched_and_noticed_once() -> None:
    job = submitted("job_twice", early_start=True)
    records, ids = admission.outgoing([job, job], [dispatched(job), dispatched(job)])
    assert ids == ["job_twice"] and notices(records) == ["job_twice"] and len(records) == 2


def test_the_field_crosses_the_wire_and_an_older_submission_reads_as_not_told() -> None:
    for early_start in (True, False):
        event = encode(submitted("job_wire", early_start=early_start))
        assert decode(ChatJobSubmitted, event).early_start is early_start
    # Not told: left out of the event, which is then exactly an older ingress's shape, and read as not told.
    older = orjson.loads(encode(submitted("job_wire")))
    assert "early_start" not in older
    job = decode(ChatJobSubmitted, orjson.dumps(older))
    assert job.early_start is None and admission.held_notice(job)
