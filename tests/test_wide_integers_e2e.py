"""Integers beyond 64 bits through the whole stack: never altered, never a crash, and they cost one request or one
line at most.

orjson reads an integer literal outside -2**63..2**64-1 as a float. A caller's tool schema holding one is
refused with a 400 naming the field (on both surfaces), a batch line holding one is a bad line by its number
while the others run, a provider answer holding one fails that job as an upstream error charged nothing; the
bounds themselves reach the provider exactly. Each test ends with another workspace's request completing.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.batch_client import MODEL, finished, jsonl, line, results, upload, wait_batch
from tests.conftest import Stack, Workspace, make_workspace
from tests.door_probe import SEED, nothing_queued
from tests.door_probe import assert_another_workspace_completes as another_workspace_completes
from tests.ledger_checks import assert_books_balance, balances
from tests.test_hostile_provider_e2e import (
    GRANT,
    UNTOUCHED,
    Scenario,
    assert_another_workspace_completes,
    complete,
    scenario_fixture,  # noqa: F401
)

WIDE = 2**70 + 1
SCHEMA_PATH = "tools.0.function.parameters.properties.n.maximum"
REFUSED = f"'{SCHEMA_PATH}': integer {WIDE} is outside the 64-bit range this API accepts"


def with_counting_tool(body: dict[str, Any], maximum: int, minimum: int = 0) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": minimum, "maximum": maximum}}}
    return {**body, "tools": [{"type": "function", "function": {"name": "count", "parameters": schema}}]}


@pytest.fixture
async def workspace(engine: AsyncEngine) -> Workspace:
    return await make_workspace(engine, tokens=1_000_000)


@pytest.mark.parametrize("surface", ["native", "openai"])
async def test_a_tool_schema_integer_beyond_64_bits_is_a_400_naming_its_field(
    client: httpx.AsyncClient, stack: Stack, engine: AsyncEngine, workspace: Workspace, surface: str
) -> None:
    endpoint = "/chat/completions" if surface == "native" else "/openai/chat/completions"
    async with nothing_queued(stack):
        response = await client.post(endpoint, json=with_counting_tool(SEED, WIDE), headers=workspace.headers)

    assert response.status_code == 400, response.text
    error = response.json()["error"] if surface == "openai" else response.json()
    message = error["message"] if surface == "openai" else error["error"]
    assert error["code"] == "invalid_request"
    assert message == REFUSED
    assert (await balances(engine, workspace.id))["held"] == 0
    await another_workspace_completes(stack.base_url, engine)


async def test_a_response_format_schema_integer_beyond_64_bits_is_a_400_naming_its_field(
    client: httpx.AsyncClient, stack: Stack, engine: AsyncEngine, workspace: Workspace
) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": -(2**64)}}}
    body = {**SEED, "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}}
    async with nothing_queued(stack):
        response = await client.post("/chat/completions", json=body, headers=workspace.headers)

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_request"
    assert response.json()["error"].startswith(
        f"'response_format.json_schema.schema.properties.n.minimum': integer {-(2**64)}"
    )
    await another_workspace_completes(stack.base_url, engine)


@pytest.mark.parametrize("surface", ["native", "openai"])
async def test_integers_at_the_64_bit_bounds_reach_the_provider_exactly(
    client: httpx.AsyncClient, stack: Stack, workspace: Workspace, surface: str
) -> None:
    endpoint = "/chat/completions" if surface == "native" else "/openai/chat/completions"
    marker = f"bounds on {surface} {workspace.id}"
    body = with_counting_tool({**SEED, "messages": [{"role": "user", "content": marker}]}, 2**64 - 1, -(2**63))

    response = await client.post(endpoint, json=body, headers=workspace.headers)

    assert response.status_code == 200, response.text
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        recorded = (await fake.get("/_fake/requests")).json()["requests"]
    [sent] = [r["json"] for r in recorded if marker in str(r["json"])]
    assert sent["tools"][0]["function"]["parameters"]["properties"]["n"] == {
        "type": "integer",
        "minimum": -(2**63),
        "maximum": 2**64 - 1,
    }


@pytest.mark.parametrize("shape", ["jsonl", "json array", "json object"])
async def test_a_batch_line_with_an_integer_beyond_64_bits_is_a_bad_line_and_the_others_run(
    client: httpx.AsyncClient, stack: Stack, engine: AsyncEngine, workspace: Workspace, shape: str
) -> None:
    lines = [line("a"), {**line("wide"), "body": with_counting_tool(line("wide")["body"], WIDE)}, line("b")]
    if shape == "jsonl":
        # orjson (which `jsonl` uses) cannot write 2**70+1: the standard library writes the lines.
        created = await upload(client, workspace, jsonl([json.dumps(item).encode() for item in lines]))
    elif shape == "json array":
        created = await client.post("/batches", headers=workspace.headers, json=lines)
    else:
        created = await client.post("/batches", headers=workspace.headers, json={"requests": lines})

    assert created.status_code == 201, created.text
    batch = created.json()
    assert (batch["counts"]["total"], batch["invalid_lines"]) == (2, 1)
    [error] = batch["errors"]
    assert (error["line"], error["code"]) == (2, "invalid_request")
    assert error["message"] == f"'body.{REFUSED[1:]}"
    done = await wait_batch(client, workspace, batch["id"], finished, log=stack.ledger.log_tail)
    assert done["counts"] == {**done["counts"], "total": 2, "completed": 2, "failed": 0}
    rows = await results(client, workspace, batch["id"])
    assert [(row["custom_id"], row["line"], row["status"]) for row in rows] == [
        ("a", 1, "completed"),
        ("b", 3, "completed"),
    ]
    assert (await balances(engine, workspace.id))["spent"] == done["cost_tokens"] > 0
    bystander = await make_workspace(engine, tokens=10_000)
    answer = await client.post("/chat/completions", headers=bystander.headers, json={**SEED, "model": MODEL})
    assert answer.status_code == 200, answer.text
    await assert_books_balance(engine)


async def test_a_usage_count_beyond_64_bits_fails_the_job_as_upstream_error_and_charges_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, scenario: Scenario
) -> None:
    await scenario(usage_output_tokens=2**70)
    hostile = await make_workspace(engine, tokens=GRANT)

    response = await complete(client, hostile.headers, "test/hostile")

    assert response.status_code == 502, response.text
    error = response.json()
    assert error["code"] == "upstream_error"
    assert f"integer {2**70} is outside the 64-bit range" in error["error"]
    assert await balances(engine, hostile.id) == UNTOUCHED
    await assert_another_workspace_completes(client, engine)
