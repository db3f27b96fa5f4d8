"""Usage details through the real stack with the official `openai` package: cached prompt and reasoning tokens,
`system_fingerprint` and `service_tier`, from each provider's fake, unstreamed and streamed.

Each case asks twice with prompts of the same length: once for an answer the fake details (`reasoning_tokens=5
cache_read_tokens=3`), once for the same answer with none. The details shown are the ones the fake sent, zeros
(never absent) when it sent none, and the bill is the totals: the detailed answer costs the plain one's prompt and
its 4 visible tokens plus the 5 reasoning ones, exactly what the fake reported. A late fetch of the job shows the
details told on the native surface, and a batch's output lines show them as the answers would.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.completion_usage import CompletionUsage
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.batch_client import jsonl, line
from tests.conftest import Stack, Workspace, make_workspace
from tests.ledger_checks import balances
from tests.test_openai_batches_e2e import wait_done
from tests.test_openai_params_e2e import async_sdk

# Same length on purpose: the two prompts cost the same.
DETAILED = "Say hi [fake output_tokens=4 reasoning_tokens=5 cache_read_tokens=3]"
PLAIN = "Say hi [fake output_tokens=4 reasoning_tokens=0 cache_read_tokens=0]"
GRANT = 100_000


@dataclass(frozen=True)
class Provider:
    model: str
    # Anthropic folds thinking into output_tokens without a counter of its own: its reasoning reads 0.
    reasoning_told: bool
    # Only Chat Completions servers send a fingerprint.
    fingerprint: str | None


PROVIDERS = [
    Provider("openai/gpt-5", reasoning_told=True, fingerprint="fp_fakeprovider"),
    Provider("anthropic/claude-sonnet-4", reasoning_told=False, fingerprint=None),
    Provider("gemini/gemini-2.5-flash", reasoning_told=True, fingerprint=None),
    Provider("meta/llama-3.1-8b-instruct", reasoning_told=True, fingerprint="fp_fakeprovider"),
]
EVERY_PROVIDER = pytest.mark.parametrize("provider", PROVIDERS, ids=[p.model.split("/")[0] for p in PROVIDERS])


@dataclass(frozen=True)
class Answer:
    job_id: str
    usage: CompletionUsage
    cost: int
    system_fingerprint: str | None
    service_tier: str | None


async def unstreamed(client: openai.AsyncOpenAI, model: str, text: str) -> Answer:
    completion: ChatCompletion = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], max_completion_tokens=40
    )
    assert completion.usage is not None
    cost = (completion.model_extra or {})["cost"]
    return Answer(completion.id, completion.usage, cost, completion.system_fingerprint, completion.service_tier)


async def streamed(client: openai.AsyncOpenAI, model: str, text: str) -> Answer:
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": text}],
        max_completion_tokens=40,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks: list[ChatCompletionChunk] = [chunk async for chunk in stream]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert {chunk.service_tier for chunk in chunks} == {"default"}
    # The fingerprint is known once the answer is billed: the finish chunk and the usage chunk carry it.
    finish = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
    assert finish.system_fingerprint == last.system_fingerprint
    cost = (last.model_extra or {})["cost"]
    return Answer(last.id, last.usage, cost, last.system_fingerprint, last.service_tier)


async def native_usage(stack: Stack, workspace: Workspace, job_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as raw:
        polled = await raw.get(f"/jobs/{job_id}", headers=workspace.headers)
    assert polled.status_code == 200, polled.text
    usage: dict[str, Any] = polled.json()["usage"]
    return usage


@EVERY_PROVIDER
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_the_details_are_the_fakes_and_the_bill_is_the_totals(
    stack: Stack, engine: AsyncEngine, provider: Provider, stream: bool
) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    ask = streamed if stream else unstreamed
    async with async_sdk(stack, workspace.api_key) as client:
        plain = await ask(client, provider.model, PLAIN)
        detailed = await ask(client, provider.model, DETAILED)

    reasoning = 5 if provider.reasoning_told else 0
    for answer, (cached, thought) in ((plain, (0, 0)), (detailed, (3, reasoning))):
        usage = answer.usage
        assert usage.prompt_tokens_details is not None and usage.completion_tokens_details is not None
        assert usage.prompt_tokens_details.model_dump(exclude_unset=True) == {
            "cached_tokens": cached,
            "audio_tokens": 0,
        }
        assert usage.completion_tokens_details.model_dump(exclude_unset=True) == {
            "reasoning_tokens": thought,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        }
        assert answer.system_fingerprint == provider.fingerprint
        assert answer.service_tier == "default"
        assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
        assert answer.cost == usage.total_tokens  # every model here is priced 1:1
    # The bill: the same prompt, the same visible answer, plus the reasoning the fake spent; nothing else moved.
    assert detailed.usage.prompt_tokens == plain.usage.prompt_tokens
    assert (plain.usage.completion_tokens, detailed.usage.completion_tokens) == (4, 9)
    spent = (await balances(engine, workspace.id))["spent"]
    assert spent == plain.usage.total_tokens + detailed.usage.total_tokens
    # Kept with the job: a late fetch shows what the answer showed, each detail told after the API page's two keys;
    # an answer without details keeps exactly the page's `usage`.
    told = {"cached_input_tokens": 3} | ({"reasoning_tokens": 5} if provider.reasoning_told else {})
    assert await native_usage(stack, workspace, detailed.job_id) == {
        "input_tokens": detailed.usage.prompt_tokens,
        "output_tokens": 9,
        **told,
    }
    assert await native_usage(stack, workspace, plain.job_id) == {
        "input_tokens": plain.usage.prompt_tokens,
        "output_tokens": 4,
    }


async def test_a_batchs_output_lines_show_the_details_as_the_answer_would(stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    lines = [
        line(f"{name}-{provider.model}", text, model=provider.model, max_tokens=40)
        for provider in PROVIDERS
        for name, text in (("plain", PLAIN), ("detailed", DETAILED))
    ]
    async with async_sdk(stack, workspace.api_key, timeout=60) as client:
        uploaded = await client.files.create(file=("input.jsonl", io.BytesIO(jsonl(lines))), purpose="batch")
        created = await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        done = await wait_done(client, created.id)
        assert done.status == "completed" and done.output_file_id and not done.error_file_id
        output = (await client.files.content(done.output_file_id)).text
    bodies = {row["custom_id"]: row["response"]["body"] for row in map(orjson.loads, output.splitlines())}
    for provider in PROVIDERS:
        plain, detailed = bodies[f"plain-{provider.model}"], bodies[f"detailed-{provider.model}"]
        reasoning = 5 if provider.reasoning_told else 0
        for body, (cached, thought) in ((plain, (0, 0)), (detailed, (3, reasoning))):
            usage = body["usage"]
            assert usage["prompt_tokens_details"] == {"cached_tokens": cached, "audio_tokens": 0}
            assert usage["completion_tokens_details"]["reasoning_tokens"] == thought
            assert (body["system_fingerprint"], body["service_tier"]) == (provider.fingerprint, "default")
            assert body["cost"] == usage["total_tokens"]
        assert detailed["usage"]["prompt_tokens"] == plain["usage"]["prompt_tokens"]
        assert (plain["usage"]["completion_tokens"], detailed["usage"]["completion_tokens"]) == (4, 9)
    assert (await balances(engine, workspace.id))["spent"] == sum(b["usage"]["total_tokens"] for b in bodies.values())
