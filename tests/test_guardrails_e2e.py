"""Workspace guardrails set through the admin API, on the real services: what they refuse, redact and record.

A blocked request is never charged; a redacted one is billed on what the provider was sent; an answer an
output rule matches is withheld and not charged. Every test ends with the books balanced (autouse verify).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Stack, make_workspace
from tests.guarded_stack import ADMIN, Scenario, hostile_scenario
from tests.guarded_stack import guarded_workspace as guarded_workspace_of
from tests.ledger_checks import assert_books_balance, balances

GRANT = 20_000


@pytest.fixture
async def scenario(stack: Stack) -> AsyncIterator[Scenario]:
    async with hostile_scenario(stack) as script:
        yield script


async def guarded_workspace(client: httpx.AsyncClient, guardrails: dict[str, Any]) -> tuple[str, dict[str, str]]:
    return await guarded_workspace_of(client, guardrails, grant=GRANT)


def chat(content: str, *, model: str = "openai/gpt-4.1-mini", max_tokens: int = 64) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens}


async def assert_another_workspace_completes(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    other = await make_workspace(engine, tokens=5_000)
    answer = await client.post("/chat/completions", json=chat("project falcon status?"), headers=other.headers)
    assert answer.status_code == 200, answer.text
    await assert_books_balance(engine)


def assert_blocked(response: httpx.Response, rule: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == "guardrail_blocked" and error["status"] == 400
    assert f"'{rule}'" in error["error"]


async def test_a_deny_rule_blocks_naming_the_rule_and_charges_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace, headers = await guarded_workspace(
        client,
        {
            "deny": [
                {"name": "codename", "keywords": ["Project Falcon"]},
                {"name": "ssn", "pattern": r"\d{3}-\d{2}-\d{4}"},
            ]
        },
    )
    assert_blocked(
        await client.post("/chat/completions", json=chat("status of PROJECT falcon?"), headers=headers), "codename"
    )
    assert_blocked(await client.post("/chat/completions", json=chat("my ssn is 078-05-1120"), headers=headers), "ssn")
    assert await balances(engine, workspace) == {"available": GRANT, "held": 0, "spent": 0, "funding": -GRANT}

    fine = await client.post("/chat/completions", json=chat("status of the falconry project?"), headers=headers)
    assert fine.status_code == 200, fine.text
    await assert_another_workspace_completes(client, engine)


async def test_allowed_models_and_prompt_size_are_enforced_and_can_be_changed(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # An alias is stored as the model's id; an unknown model is refused when configured, not silently never matched.
    workspace, headers = await guarded_workspace(
        client, {"allowed_models": ["openai/gpt-4.1-mini"], "max_prompt_chars": 40}
    )
    unknown = await client.patch(
        f"/admin/workspaces/{workspace}", json={"guardrails": {"allowed_models": ["nope/model"]}}, headers=ADMIN
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "model_not_found"

    other_model = chat("hi", model="anthropic/claude-sonnet-4")
    assert_blocked(await client.post("/chat/completions", json=other_model, headers=headers), "allowed_models")
    assert_blocked(await client.post("/chat/completions", json=chat("x" * 41), headers=headers), "max_prompt_chars")
    assert (await client.post("/chat/completions", json=chat("x" * 40), headers=headers)).status_code == 200

    cleared = await client.patch(f"/admin/workspaces/{workspace}", json={"guardrails": None}, headers=ADMIN)
    assert cleared.status_code == 200 and cleared.json()["guardrails"] is None
    assert (await client.post("/chat/completions", json=other_model, headers=headers)).status_code == 200
    await assert_another_workspace_completes(client, engine)


async def test_a_request_whose_hold_exceeds_the_cost_ceiling_is_refused_before_anything_is_held(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace, headers = await guarded_workspace(client, {"max_cost_tokens_per_request": 100})
    refused = await client.post("/chat/completions", json=chat("hello", max_tokens=500), headers=headers)
    assert_blocked(refused, "max_cost_tokens_per_request")
    assert await balances(engine, workspace) == {"available": GRANT, "held": 0, "spent": 0, "funding": -GRANT}

    allowed = await client.post("/chat/completions", json=chat("hello", max_tokens=16), headers=headers)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["cost"] <= 100
    await assert_another_workspace_completes(client, engine)


async def test_personal_data_is_redacted_before_the_provider_sees_it_and_billed_as_sent(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    _, headers = await guarded_workspace(client, {"redact": ["email", "card", "phone"]})
    prompt = "write to jane.doe@example.com about card 4111 1111 1111 1111"
    answer = await client.post("/chat/completions", json=chat(prompt), headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    # The fake provider echoes the prompt it received: the redacted one.
    assert "jane.doe" not in body["answer"] and "4111" not in body["answer"]
    assert "[REDACTED:email]" in body["answer"]

    job = await client.get(f"/jobs/{body['id']}", headers=headers)
    assert job.json()["guardrails"] == {"redacted": {"card": 1, "email": 1}}

    # Billed on what was sent: the same as an unguarded workspace sending the redacted text itself.
    plain = await make_workspace(engine, tokens=5_000)
    sent = "write to [REDACTED:email] about card [REDACTED:card]"
    direct = await client.post("/chat/completions", json=chat(sent), headers=plain.headers)
    assert direct.json()["usage"] == body["usage"] and direct.json()["cost"] == body["cost"]
    await assert_books_balance(engine)


async def test_output_rules_withhold_an_answer_uncharged_and_redact_others(
    client: httpx.AsyncClient, engine: AsyncEngine, scenario: Scenario
) -> None:
    workspace, headers = await guarded_workspace(
        client,
        {"deny": [{"name": "launch-codes", "keywords": ["xyzzy"]}], "redact": ["email"], "check_output": True},
    )
    await scenario(answer_text="the launch code is XYZZY")
    withheld = await client.post(
        "/chat/completions", json=chat("what is the code?", model="test/hostile"), headers=headers
    )
    assert_blocked(withheld, "launch-codes")
    assert "XYZZY" not in withheld.text
    assert await balances(engine, workspace) == {"available": GRANT, "held": 0, "spent": 0, "funding": -GRANT}

    await scenario(answer_text="write to bob@example.org")
    redacted = await client.post("/chat/completions", json=chat("who?", model="test/hostile"), headers=headers)
    assert redacted.status_code == 200, redacted.text
    assert redacted.json()["answer"] == "write to [REDACTED:email]"
    assert redacted.json()["cost"] > 0
    await assert_another_workspace_completes(client, engine)


@pytest.mark.parametrize(
    ("guardrails", "expected"),
    [
        ({"deny": [{"name": "evil", "pattern": "(a+)+$"}]}, "nested unbounded quantifiers"),
        ({"deny": [{"name": "lookbehind", "pattern": "(?<=a)b"}]}, "not a valid RE2 pattern"),
        ({"deny": [{"name": "nul", "keywords": ["bad\x00word"]}]}, "control characters"),
        ({"max_cost_tokens_per_request": -5}, "greater than 0"),
        ({"redact": ["passport"]}, "redact"),
    ],
)
async def test_bad_guardrails_are_refused_when_configured(
    client: httpx.AsyncClient, engine: AsyncEngine, guardrails: dict[str, Any], expected: str
) -> None:
    workspace, _ = await guarded_workspace(client, {})
    refused = await client.patch(f"/admin/workspaces/{workspace}", json={"guardrails": guardrails}, headers=ADMIN)
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "invalid_request" and expected in refused.json()["error"]
    await assert_another_workspace_completes(client, engine)


async def sse_events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    events, name = [], None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: ") and name is not None:
            events.append((name, json.loads(line[6:])))
    return events


async def test_a_stream_with_output_checks_is_held_back_until_checked(
    client: httpx.AsyncClient, engine: AsyncEngine, scenario: Scenario
) -> None:
    workspace, headers = await guarded_workspace(
        client,
        {"deny": [{"name": "launch-codes", "keywords": ["xyzzy"]}], "redact": ["email"], "check_output": True},
    )
    # Word by word, a few ms apart: unchecked, the address would reach the caller before the answer ended.
    await scenario(answer_text="write to bob@example.org today", stream_chunk_ms=5)
    body = {**chat("who?", model="test/hostile"), "stream": True}
    async with client.stream("POST", "/chat/completions", json=body, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        events = await sse_events(response)
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "done", names
    streamed = "".join(data["delta"] for name, data in events if name == "delta")
    assert streamed == "write to [REDACTED:email] today"
    assert "bob@example.org" not in json.dumps(events)
    done = events[-1][1]
    assert done["cost"] > 0
    assert (await balances(engine, workspace))["spent"] == done["cost"]

    await scenario(answer_text="the launch code is XYZZY", stream_chunk_ms=5)
    async with client.stream("POST", "/chat/completions", json=body, headers=headers) as response:
        # The stream started on the hold (README "Streaming"): the withheld answer is its error event.
        assert response.status_code == 200, await response.aread()
        withheld_events = await sse_events(response)
    withheld = json.dumps(withheld_events).encode()
    assert [name for name, _ in withheld_events] == ["start", "error"], withheld_events
    assert b"XYZZY" not in withheld and b"launch-codes" in withheld
    error = withheld_events[-1][1]
    assert (error["code"], error["status"]) == ("guardrail_blocked", 400)
    # Withheld: nothing charged for it, only the first answer is spent.
    assert (await balances(engine, workspace))["spent"] == done["cost"]
    await assert_another_workspace_completes(client, engine)
