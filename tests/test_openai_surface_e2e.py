"""The official `openai` package, unchanged, against the OpenAI-compatible surface: same keys and billing."""

from __future__ import annotations

from typing import Any

import httpx
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


async def test_a_restricted_key_lists_and_retrieves_only_its_models(stack: Stack, engine: AsyncEngine) -> None:
    # It listed every model, then was refused (403 key_restricted) the ones it picked outside its allowed set.
    workspace = await make_workspace(engine, tokens=0)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as raw:
        minted = await raw.post(
            "/keys",
            json={"name": "claude only", "allowed_models": ["anthropic/claude-sonnet-4"]},
            headers=workspace.headers,
        )
        assert minted.status_code == 201, minted.text
        # A client's mistake on this surface is typed as one, whatever its status (a 405 was a "server_error").
        wrong_method = await raw.put("/openai/chat/completions", json={}, headers=workspace.headers)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["type"] == "invalid_request_error"
    async with sdk(stack, minted.json()["key"]) as client:
        listed = [model.id async for model in client.models.list()]
        assert listed and {"anthropic/claude-sonnet-4"} <= set(listed)
        assert not any(name.startswith(("openai/", "gemini/", "gpt-", "gemini-")) for name in listed), listed
        assert (await client.models.retrieve("anthropic/claude-sonnet-4")).id == "anthropic/claude-sonnet-4"
        with pytest.raises(openai.NotFoundError):
            await client.models.retrieve("gemini/gemini-2.5-flash")
    async with sdk(stack, workspace.api_key) as client:
        assert (await client.models.retrieve("gemini/gemini-2.5-flash")).id == "gemini/gemini-2.5-flash"


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


@pytest.mark.parametrize("model", ["openai/gpt-4.1-mini", "gemini/gemini-2.5-flash"])
async def test_a_providers_own_404_is_a_502_upstream_error_not_a_missing_model(
    stack: Stack, engine: AsyncEngine, model: str
) -> None:
    # The model was just listed: a NotFoundError would tell the client it does not exist.
    workspace = await make_workspace(engine, tokens=5_000)
    messages: Any = [{"role": "user", "content": "hi [fake fail_status=404]"}]
    async with sdk(stack, workspace.api_key) as client:
        with pytest.raises(openai.InternalServerError) as unstreamed:
            await client.chat.completions.create(model=model, messages=messages, max_tokens=5)
        stream = await client.chat.completions.create(model=model, messages=messages, max_tokens=5, stream=True)
        with pytest.raises(openai.APIError) as streamed:
            async for _ in stream:
                pass
    assert unstreamed.value.status_code == 502
    assert unstreamed.value.code == "upstream_error"
    assert not isinstance(streamed.value, openai.NotFoundError)
    assert streamed.value.code == "upstream_error"
    assert (await balances(engine, workspace.id))["spent"] == 0


async def test_a_refused_output_bound_is_named_as_the_caller_sent_it(stack: Stack, engine: AsyncEngine) -> None:
    # It said "max_tokens 60 exceeds this key's limit of 50" to a caller who had sent only max_completion_tokens.
    workspace = await make_workspace(engine, tokens=5_000)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as raw:
        minted = await raw.post("/keys", json={"name": "capped", "max_tokens_max": 50}, headers=workspace.headers)
    assert minted.status_code == 201, minted.text
    messages: Any = [{"role": "user", "content": "hi"}]
    async with sdk(stack, minted.json()["key"]) as capped, sdk(stack, workspace.api_key) as client:
        for param in ("max_completion_tokens", "max_tokens"):
            for stream in (False, True):
                with pytest.raises(openai.PermissionDeniedError) as over_key:
                    await capped.chat.completions.create(
                        model="openai/gpt-4.1-mini", messages=messages, stream=stream, **{param: 60}
                    )
                assert over_key.value.body["message"] == f"'{param}': 60 exceeds this key's limit of 50"  # type: ignore[index]
                assert (over_key.value.param, over_key.value.code) == (param, "key_restricted")
            with pytest.raises(openai.BadRequestError) as over_model:
                await client.chat.completions.create(model="openai/gpt-4.1-mini", messages=messages, **{param: 10**7})
            assert over_model.value.body["message"].startswith(  # type: ignore[index]
                f"'{param}': 10000000 exceeds openai/gpt-4.1-mini's limit"
            )
            assert over_model.value.param == param
    # The native route has only max_tokens, and says so.
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as raw:
        native = await raw.post(
            "/chat/completions",
            json={"model": "openai/gpt-4.1-mini", "messages": messages, "max_tokens": 60},
            headers={"authorization": f"Bearer {minted.json()['key']}"},
        )
    assert native.status_code == 403 and native.json()["error"] == "'max_tokens': 60 exceeds this key's limit of 50"
