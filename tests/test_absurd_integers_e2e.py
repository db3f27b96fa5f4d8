"""Absurd integers on every JSON route: never a 5xx. Every operation of the OpenAPI document with a JSON body is
sent its documented example with one integer field (or one free-form object field, given an integer inside)
replaced by an integer beyond a bigint, beyond 64 bits, or thousands of digits long. A refusal is a 4xx in the
API's error shape naming the field; a value accepted is read back exactly; a refused money request moves no
money. The walk reads the document, so a route added anywhere is covered without touching this file.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress import apidocs
from ingress.openapi_examples import example_for
from tests.conftest import ADMIN_KEY, Stack, Workspace, make_workspace
from tests.door_probe import assert_another_workspace_completes
from tests.walk_targets import spare_key_and_endpoint

DOCUMENT: dict[str, Any] = json.loads(apidocs.OPENAPI_PATH.read_text())
COMPONENTS: dict[str, Any] = DOCUMENT["components"]["schemas"]
HTTP_METHODS = ("post", "put", "patch", "delete")
OPENAI_PREFIX = "/api/v1/openai/"

# The literals sent, as JSON text: a Python int of 5,000 digits cannot even be written by `json.dumps`.
ABSURD = {
    "2**63": str(2**63),
    "2**64": str(2**64),
    "2**70+1": str(2**70 + 1),
    "-2**63-1": str(-(2**63) - 1),
    "10**30": str(10**30),
    "5000 digits": "9" * 5000,
}
# The key an integer is put under inside a free-form object (and added at the top of a free-form body).
INNER_KEY = "absurd_n"
# Integer fields of bodies the document types as free-form objects (the route validates them itself): each
# with the body it is sent in, the field replaced there.
UNTYPED_INTEGER_BODIES: dict[str, list[dict[str, Any]]] = {
    "POST /api/v1/topups": [{"amount_paisa": 0, "method": "invoice"}],
    "PUT /api/v1/billing/auto-topup": [{"threshold_tokens": 50_000, "amount_paisa": 0, "method": "invoice"}],
    "POST /api/v1/billing/alert-thresholds": [{"kind": "percent_of_last_topup", "percent": 0}],
}
# Operations whose body is forwarded to the provider, not stored: an accepted value is read back from what the
# fake provider received.
FORWARDED = {"POST /api/v1/chat/completions", "POST /api/v1/openai/chat/completions"}


@dataclass(frozen=True)
class Target:
    """A field to replace: its path in the body, the schema of each step (to build what the example lacks),
    and whether it is a free-form object (which gets the integer inside) or an integer."""

    path: tuple[str | int, ...]
    schemas: tuple[dict[str, Any], ...]
    free_form: bool

    @property
    def name(self) -> str:
        """The name a refusal must mention: the field's own (a free-form body's: the key put in it)."""
        named = [part for part in self.path if isinstance(part, str)]
        return named[-1] if named else INNER_KEY


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = COMPONENTS[str(schema["$ref"]).rsplit("/", 1)[-1]]
    return schema


def _targets(
    schema: dict[str, Any], path: tuple[str | int, ...], schemas: tuple[dict[str, Any], ...]
) -> Iterator[Target]:
    schema = _resolved(schema)
    if len(path) > 8:
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            # Below a union, the member taken is what a missing parent is built from.
            chosen = (*schemas[:-1], _resolved(option)) if schemas else schemas
            yield from _targets(option, path, chosen)
    kind = schema.get("type")
    if kind == "integer":
        yield Target(path, schemas, free_form=False)
    elif kind == "object" or "properties" in schema:
        if not schema.get("properties") and schema.get("additionalProperties", True) is not False:
            yield Target(path, schemas, free_form=True)
        for name, child in schema.get("properties", {}).items():
            yield from _targets(child, (*path, name), (*schemas, _resolved(child)))
    elif kind == "array":
        items = _resolved(schema.get("items", {}))
        yield from _targets(items, (*path, 0), (*schemas, items))


def _integer_paths(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _integer_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _integer_paths(item, (*path, index))
    elif type(value) is int:
        yield path


@dataclass(frozen=True)
class Case:
    body: Any
    target: Target


def _cases(key: str, operation: dict[str, Any]) -> list[Case]:
    media = operation["requestBody"]["content"]["application/json"]
    example = media["example"]
    # A field reached through several union members is walked once.
    targets = list({(target.path, target.free_form): target for target in _targets(media["schema"], (), ())}.values())
    if any(target.free_form and not target.path for target in targets):
        # A free-form body: its integers are the example's, and those the route documents in prose.
        bodies = [example, *UNTYPED_INTEGER_BODIES.get(key, [])]
        cases = {
            path: Case(body, Target(path, (), free_form=False))
            for body in reversed(bodies)
            for path in _integer_paths(body)
        }
        return [Case(example, Target((), (), free_form=True)), *cases.values()]
    return [Case(example, target) for target in targets]


def _operations() -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in sorted(DOCUMENT["paths"].items()):
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation and "application/json" in operation.get("requestBody", {}).get("content", {}):
                yield f"{method.upper()} {path}", operation


OPERATIONS = dict(_operations())
SENTINEL = "__absurd_integer__"
# Fields a parent built from its schema gets beside its required ones, so the field walked is used: a
# `response_format`'s `json_schema` counts only under its type `json_schema` (the schema's first type is `text`).
BUILT_PARENTS: dict[tuple[str | int, ...], dict[str, Any]] = {("response_format",): {"type": "json_schema"}}


def _with_sentinel(body: Any, target: Target) -> Any:
    """The body with the sentinel at the target (inside it, for a free-form object); missing parents are built
    from their schemas' required fields, as the document builds examples."""
    root = copy.deepcopy(body)
    if target.free_form and not target.path:
        return {**root, INNER_KEY: SENTINEL}
    node = root
    for depth, part in enumerate(target.path[:-1]):
        child_schema = target.schemas[depth] if depth < len(target.schemas) else {}
        if isinstance(part, int):
            if not node:
                node.append(example_for("", child_schema, COMPONENTS))
        elif not isinstance(node.get(part), dict | list):
            built = example_for("", child_schema, COMPONENTS)
            node[part] = {} if built is None else built
            if isinstance(node[part], dict):
                node[part].update(BUILT_PARENTS.get(target.path[: depth + 1], {}))
        node = node[part]
    last = target.path[-1]
    value: Any = {INNER_KEY: SENTINEL} if target.free_form else SENTINEL
    if isinstance(last, int) and not node:
        node.append(value)
    else:
        node[last] = value
    return root


def _request_text(body: Any, target: Target, literal: str) -> str:
    text = json.dumps(_with_sentinel(body, target))
    assert text.count(f'"{SENTINEL}"') == 1
    return text.replace(f'"{SENTINEL}"', literal)


def _integers_as_text(text: str) -> set[str]:
    """Every integer literal of a JSON answer, as its text (so one of any length compares exactly)."""
    found: set[str] = set()

    def keep(literal: str) -> str:
        found.add(literal)
        return literal

    json.loads(text, parse_int=keep)
    return found


@dataclass(frozen=True)
class Fixtures:
    workspace: Workspace
    spare_key_id: str
    endpoint_id: str
    fake_url: str


@pytest.fixture(scope="module")
async def fixtures(stack: Stack, engine: AsyncEngine) -> Fixtures:
    workspace = await make_workspace(engine, tokens=1_000_000)
    spare_key_id, endpoint_id = await spare_key_and_endpoint(stack, engine, workspace, "absurd")
    return Fixtures(workspace, spare_key_id, endpoint_id, stack.fake_url)


def _url(key: str, fixtures: Fixtures) -> str:
    path = key.split(" ", 1)[1].removeprefix("/api/v1")
    return path.format(
        workspace_id=fixtures.workspace.id, key_id=fixtures.spare_key_id, endpoint_id=fixtures.endpoint_id
    )


def _headers(operation: dict[str, Any], fixtures: Fixtures) -> dict[str, str]:
    if any("adminAuth" in requirement for requirement in operation.get("security", [])):
        return {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}
    return fixtures.workspace.headers


def _refusal_problem(response: httpx.Response, key: str, target: Target) -> str | None:
    """What is wrong with a 4xx (None: it is in the API's error shape and names the field)."""
    try:
        body = response.json()
    except ValueError:
        return f"a {response.status_code} that is not JSON: {response.text[:200]}"
    if key.split(" ", 1)[1].startswith(OPENAI_PREFIX):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) and error.get("code") else None
    else:
        shaped = body.get("status") == response.status_code and body.get("code") and body.get("request_id")
        message = body.get("error") if shaped else None
    if not isinstance(message, str):
        return f"a {response.status_code} not in the error shape: {response.text[:200]}"
    if target.name not in message:
        return f"a {response.status_code} not naming {target.name!r}: {message[:200]}"
    return None


async def _accepted_problem(
    client: httpx.AsyncClient, key: str, response: httpx.Response, literal: str, fixtures: Fixtures
) -> str | None:
    """What is wrong with an accepted value (None: it reads back exactly, or the operation forwards it)."""
    if key in FORWARDED:
        return await _forwarded_problem(literal, fixtures)
    answers = [response.text] if response.content else []
    method, path = key.split(" ", 1)
    if method in {"PUT", "PATCH"} and "get" in DOCUMENT["paths"][path]:
        read = await client.get(_url(key, fixtures), headers=_headers(OPERATIONS[key], fixtures))
        answers.append(read.text)
    if not any(literal in _integers_as_text(answer) for answer in answers):
        return f"accepted ({response.status_code}) but not read back exactly"
    return None


async def _money(client: httpx.AsyncClient, fixtures: Fixtures) -> tuple[int, int]:
    balance = (await client.get("/balance", headers=fixtures.workspace.headers)).json()
    return balance["balance_tokens"], balance["held_tokens"]


async def _forwarded_problem(literal: str, fixtures: Fixtures) -> str | None:
    """The provider got the value exactly: the newest request it recorded that carries the key holds it (a
    completion answered 200 after its provider call, and the cases run one at a time)."""
    async with httpx.AsyncClient(base_url=fixtures.fake_url, timeout=30) as fake:
        recorded = (await fake.get("/_fake/requests")).text
    sent = [request for request in json.loads(recorded, parse_int=str)["requests"] if INNER_KEY in str(request)]
    if not sent or f"'{INNER_KEY}': '{literal}'" not in str(sent[-1]["json"]):
        return "accepted, but the provider did not receive it exactly"
    return None


@pytest.mark.parametrize("key", sorted(OPERATIONS))
async def test_absurd_integers_in_a_body_are_refused_by_name_or_kept_exactly(
    client: httpx.AsyncClient, fixtures: Fixtures, key: str
) -> None:
    operation = OPERATIONS[key]
    method = key.split(" ", 1)[0]
    url, headers = _url(key, fixtures), _headers(operation, fixtures)
    balance_before = await _money(client, fixtures)
    problems: list[str] = []
    accepted = 0
    cases = _cases(key, operation)
    assert cases, f"{key} has a JSON body but no integer or free-form field to walk"
    for case in cases:
        for label, literal in ABSURD.items():
            content = _request_text(case.body, case.target, literal)
            response = await client.request(method, url, content=content, headers=headers)
            where = f"{'.'.join(map(str, case.target.path)) or '(body)'} = {label}"
            if response.status_code >= 500:
                problems.append(f"{where}: {response.status_code} {response.text[:200]}")
            elif response.status_code >= 400:
                if problem := _refusal_problem(response, key, case.target):
                    problems.append(f"{where}: {problem}")
            else:
                accepted += 1
                if problem := await _accepted_problem(client, key, response, literal, fixtures):
                    problems.append(f"{where}: {problem}")
    assert problems == [], f"{key}:\n" + "\n".join(problems)
    if not accepted:
        # Refusals lose nothing and move nothing: the workspace's money is as it was.
        assert await _money(client, fixtures) == balance_before


async def test_another_workspace_completes_after_the_walk(
    stack: Stack, engine: AsyncEngine, fixtures: Fixtures
) -> None:
    # The walk cannot shrink unnoticed: a schema change that hid the integer fields would fail here.
    assert len(OPERATIONS) >= 25
    assert sum(len(_cases(key, operation)) for key, operation in OPERATIONS.items()) >= 80
    await assert_another_workspace_completes(stack.base_url, engine)
