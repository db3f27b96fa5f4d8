"""The official `openai` package, unchanged, against the OpenAI-compatible surface: same keys and billing."""

from __future__ import annotations

import openai
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Stack, make_workspace
from tests.ledger_checks import balances


def sdk(stack: Stack, api_key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{stack.base_url}/openai", api_key=api_key, max_retries=0, timeout=30)


async def test_the_openai_sdk_completes_and_is_billed(stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    async with sdk(stack, workspace.api_key) as client:
        completion = await client.chat.completions.create(
            model="openai/gpt-4.1-mini",
            messages=[
                {"role": "developer", "content": "Be terse."},
                {"role": "user", "content": "Summarize closures in JS"},
            ],
            max_completion_tokens=40,
        )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason in ("stop", "length")
    usage = completion.usage
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    extra = completion.model_extra or {}
    assert extra["cost"] == usage.total_tokens
    assert extra["balance_left"] == 10_000 - usage.total_tokens
    assert (await balances(engine, workspace.id))["spent"] == usage.total_tokens


async def test_the_openai_sdk_lists_models(stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=0)
    async with sdk(stack, workspace.api_key) as client:
        models = [model.id async for model in client.models.list()]
    assert {"openai/gpt-4.1-mini", "gpt-4.1-mini", "gemini/gemini-2.5-flash"} <= set(models)


async def test_sdk_errors_are_the_sdk_exceptions(stack: Stack, engine: AsyncEngine) -> None:
    broke = await make_workspace(engine, tokens=0)
    async with sdk(stack, broke.api_key) as client:
        with pytest.raises(openai.PermissionDeniedError) as denied:
            await client.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(model="no/such-model", messages=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.BadRequestError, match="unsupported parameter 'functions'"):
            await client.chat.completions.create(
                model="gpt-4.1-mini",
                messages=[{"role": "user", "content": "x"}],
                functions=[{"name": "f", "parameters": {}}],
            )
    assert "Insufficient credits" in str(denied.value)
    async with sdk(stack, "lx_wrong_key") as client:
        with pytest.raises(openai.AuthenticationError):
            await client.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": "x"}])
