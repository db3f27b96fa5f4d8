"""The batch line fast path against the full path: for any line, the same refusal or the same stored job.

`parse_line` takes a plain line through its settings' template (ingress/batch_fastpath.py); `parse_document` is the
full path (the OpenAI route's validation and `build_job`). Generated lines mix plain ones with every near miss the
fast path must hand over: odd roles, NUL, extra fields, `true` for a number, unknown models, a key's limits, prompts
over a model's context.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson
import pytest

from ingress.batch_lines import BatchJob, LineContext, LineRefused, load_line, parse_document, parse_line
from ingress.key_policy import ALL_SCOPES, KeyPower, Principal
from schemas.catalogue import Catalogue, parse_catalogue
from tests.services import ROOT

# The real catalogue, with llama's context cut so generated prompts can overflow it.
CATALOGUE: Catalogue = parse_catalogue(
    re.sub(r"context_tokens = 131072", "context_tokens = 6000", (ROOT / "config" / "models.toml").read_text())
)
DEADLINE = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(hours=24)
PRINCIPALS = {
    "plain": Principal(key_id="key_a", workspace_id="ws_a", default_model=None),
    "restricted": Principal(
        key_id="key_b",
        workspace_id="ws_b",
        default_model=None,
        power=KeyPower(
            scopes=ALL_SCOPES, allowed_models=frozenset({"openai/gpt-4.1-mini", "meta/llama-3.1-8b-instruct"})
        ),
    ),
    "capped": Principal(
        key_id="key_c",
        workspace_id="ws_c",
        default_model=None,
        power=KeyPower(scopes=ALL_SCOPES, max_tokens_max=200),
    ),
}
# One context per principal for the whole run: templates made by earlier examples serve later ones.
SHARED = {
    name: LineContext("batch_" + "ab" * 16, principal, CATALOGUE, DEADLINE, messages_max=6, event_max_bytes=1 << 20)
    for name, principal in PRINCIPALS.items()
}


ODD_TEXTS = ["", "nul\x00here", "bell\x07", "\u009f", "tab\tand\nnewline", 'quote" and \\', "x" * 40_000]
MODELS = [
    "openai/gpt-4.1-mini",
    "gpt-4.1-mini",
    "openai/gpt-5",
    "meta/llama-3.1-8b-instruct",
    "llama-3.1-8b",
    "anthropic/claude-sonnet-4",
]
ODD_MODELS: list[Any] = ["no/such-model", "bad\x07model", "", 5, None]
ODD_NUMBERS: list[Any] = [-2, 0, 70_000, 10**30, True, False, 1.0, 0.5, "5", None]
ODD_UNIT_FLOATS: list[Any] = [-0.1, 2.5, 3, 0, 1, 0.0, True, "1", None]
# Each takes the full path: a field beyond the template's, or a line field beyond OpenAI's four.
BODY_EXTRAS: list[dict[str, Any]] = [
    {"stop": "\n"},
    {"stop": ["a", "b"]},
    {"n": 2},
    {"metadata": {"k": "v"}},
    {"stream": False},
    {"surprise": 1},
]
LINE_EXTRAS: list[dict[str, Any]] = [{"method": "GET"}, {"method": None}, {"method": "POST"}, {"extra": True}]


class Lines:
    """Random batch lines, mostly valid (each part is odd one time in `odd_one_in`), from a fixed seed."""

    def __init__(self, seed: int, odd_one_in: int = 40) -> None:
        self.random = random.Random(seed)
        self.odd_one_in = odd_one_in

    def odd(self) -> bool:
        return self.random.randrange(self.odd_one_in) == 0

    def text(self) -> str:
        if self.odd():
            return self.random.choice(ODD_TEXTS)
        size = self.random.randrange(0, 60)
        return "".join(
            chr(self.random.choice([self.random.randrange(32, 127), self.random.randrange(160, 0x3000)]))
            for _ in range(size)
        )

    def message(self) -> Any:
        role: Any = self.random.choice(["system", "developer", "user", "assistant"])
        if self.odd():
            role = self.random.choice(["tool", "robot", 3, None])
        message: Any = {"role": role, "content": self.text()}
        if self.odd():
            message = self.random.choice(
                [
                    {"role": role, "content": None},
                    {"role": role, "content": 7},
                    {"role": role, "content": "hi", "name": "n"},
                    {"role": role, "content": [{"type": "text", "text": "part"}]},
                    {"role": role},
                    "not a message",
                ]
            )
        return message

    def body(self) -> Any:
        if self.odd():
            return self.random.choice([[], "body", None])
        model = self.random.choice(ODD_MODELS) if self.odd() else self.random.choice(MODELS)
        body: dict[str, Any] = {"model": model}
        if self.odd():
            del body["model"]
        count = self.random.randrange(0, 9) if self.odd() else self.random.randrange(1, 6)
        body["messages"] = "nope" if self.odd() else [self.message() for _ in range(count)]
        for field in ("max_tokens", "max_completion_tokens", "temperature", "top_p"):
            if self.random.random() < 0.35:
                if field.startswith("max"):
                    good: Any = self.random.choice([self.random.randrange(1, 200), self.random.randrange(1, 5000)])
                    body[field] = self.random.choice(ODD_NUMBERS) if self.odd() else good
                else:
                    body[field] = self.random.choice(ODD_UNIT_FLOATS) if self.odd() else round(self.random.random(), 2)
        if self.odd():
            body.update(self.random.choice(BODY_EXTRAS))
        return body

    def line(self) -> dict[str, Any]:
        custom_id: Any = f"req-{self.random.randrange(10**6)}"
        if self.odd():
            custom_id = self.random.choice([*ODD_TEXTS, 5, "c" * 600, "ok\u2028id"])
        url: Any = self.random.choice(["/v1/chat/completions", "/api/v1/chat/completions", "/chat/completions"])
        if self.odd():
            url = self.random.choice(["/v1/embeddings", None, 3])
        line = {"custom_id": custom_id, "url": url, "body": self.body()}
        if self.random.random() < 0.5:
            line["method"] = "POST"
        if self.odd():
            line.update(self.random.choice(LINE_EXTRAS))
        return line


def _outcome(parse: Callable[[], BatchJob], fast_event_ids: str = "") -> tuple[Any, ...]:
    try:
        good = parse()
    except LineRefused as refused:
        return ("refused", refused.code, refused.message)
    job = orjson.loads(good.job_json)
    # The only fields the paths may set differently: the event's own id and when it was made.
    event_id, _ = job.pop("event_id"), job.pop("occurred_at")
    kind = "fast" if fast_event_ids and event_id.startswith(fast_event_ids) else "job"
    return (kind, good.line_no, good.custom_id, good.job_id, good.model_id, good.pool, job)


def _full_path(raw: bytes, line_no: int, context: LineContext) -> tuple[Any, ...]:
    try:
        document = load_line(raw)
    except LineRefused:
        return _outcome(partial(parse_line, raw, line_no, context))
    return _outcome(partial(parse_document, document, line_no, context, line_bytes=len(raw)))


def test_the_fast_path_stores_what_the_full_path_stores_and_refuses_nothing_itself() -> None:
    lines = Lines(seed=20261202)
    outcomes: Counter[str] = Counter()
    for n in range(1, 6001):
        shared = SHARED[("plain", "restricted", "capped")[n % 3]]
        raw = json.dumps(lines.line()).encode()
        fresh = LineContext(
            shared.batch_id, shared.principal, CATALOGUE, DEADLINE, messages_max=6, event_max_bytes=1 << 20
        )
        # Event ids the fast path mints start with the batch's hex; the full path's are random.
        fast = _outcome(partial(parse_line, raw, n, shared), shared.batch_id.removeprefix("batch_")[:24])
        full = _full_path(raw, n, fresh)
        assert (fast[0].replace("fast", "job"), *fast[1:]) == full, raw
        outcomes[fast[0]] += 1
    # Enough of each for the comparison to mean something: jobs taken by the fast path, jobs it handed over (the
    # full path then built them), and refusals.
    assert outcomes["fast"] > 2000 and outcomes["job"] > 100 and outcomes["refused"] > 1000, outcomes


def test_plain_lines_share_one_template_per_set_of_settings() -> None:
    context = LineContext("batch_" + "cd" * 16, PRINCIPALS["plain"], CATALOGUE, DEADLINE, 6, 1 << 20)
    body = {"model": "gpt-4.1-mini", "max_tokens": 32}
    for n in range(1, 51):
        line: dict[str, Any] = {"custom_id": f"r{n}", "method": "POST", "url": "/v1/chat/completions"}
        line["body"] = {
            **body,
            "messages": [{"role": "developer", "content": "be brief"}, {"role": "user", "content": f"q {n}"}],
        }
        good = parse_line(orjson.dumps(line), n, context)
        job = orjson.loads(good.job_json)
        assert job["params"]["messages"][0] == {"role": "system", "content": "be brief"}
        assert job["job_id"] == good.job_id == f"bj_{'cd' * 16}_{n}" and job["lane"] == "batch"
    assert len(context.templates) == 1
    event_ids = {orjson.loads(parse_line(orjson.dumps(line), n, context).job_json)["event_id"] for n in range(1, 4)}
    assert len(event_ids) == 3


def test_a_prompt_over_the_models_context_is_refused_as_the_full_path_refuses_it() -> None:
    context = LineContext("batch_" + "ef" * 16, PRINCIPALS["plain"], CATALOGUE, DEADLINE, 6, 1 << 20)
    body = {"model": "llama-3.1-8b", "max_tokens": 100, "messages": [{"role": "user", "content": "w " * 30_000}]}
    raw = orjson.dumps({"custom_id": "long", "url": "/v1/chat/completions", "body": body})
    refused = _outcome(partial(parse_line, raw, 1, context))
    assert refused[:2] == ("refused", "invalid_request") and "context" in refused[2]
    ok = dict(body, messages=[{"role": "user", "content": "short"}])
    short = orjson.dumps({"custom_id": "s", "url": "/v1/chat/completions", "body": ok})
    assert _outcome(partial(parse_line, short, 2, context), "ef" * 12)[0] == "fast"
    # The template was made once, and the refused line did not take its place.
    assert len(context.templates) == 1


@pytest.mark.parametrize("field", ["max_tokens", "temperature", "top_p"])
@pytest.mark.parametrize("value", [2**70 + 1, -(2**63) - 1])
def test_a_setting_beyond_64_bits_is_refused_by_its_range_never_read_as_a_float(field: str, value: int) -> None:
    context = LineContext("batch_" + "aa" * 16, PRINCIPALS["plain"], CATALOGUE, DEADLINE, 6, 1 << 20)
    body = {"model": "gpt-4.1-mini", field: value, "messages": [{"role": "user", "content": "hi"}]}
    raw = json.dumps({"custom_id": "wide", "url": "/v1/chat/completions", "body": body}).encode()

    refused = _outcome(partial(parse_line, raw, 1, context))

    assert refused == (
        "refused",
        "invalid_request",
        f"'body.{field}': integer {value} is outside the 64-bit range this API accepts",
    )
    assert _full_path(raw, 1, context) == refused


@pytest.mark.parametrize("field", ["max_tokens", "temperature"])
def test_a_setting_too_long_for_a_double_is_refused_by_its_field_not_as_invalid_json(field: str) -> None:
    context = LineContext("batch_" + "ac" * 16, PRINCIPALS["plain"], CATALOGUE, DEADLINE, 6, 1 << 20)
    body = {"model": "gpt-4.1-mini", field: "__digits__", "messages": [{"role": "user", "content": "hi"}]}
    line = json.dumps({"custom_id": "huge", "url": "/v1/chat/completions", "body": body})
    raw = line.replace('"__digits__"', "9" * 5000).encode()  # orjson reads it as no number at all

    refused = _outcome(partial(parse_line, raw, 1, context))

    assert refused[:2] == ("refused", "invalid_request")
    assert refused[2].startswith(f"'body.{field}': integer 9999") and "(5000 digits)" in refused[2]
    assert _full_path(raw, 1, context) == refused
    garbage = _outcome(partial(parse_line, b'{"custom_id": "x", "body": [1e400]}', 1, context))
    assert garbage[:2] == ("refused", "invalid_json"), "a float literal too big stays invalid JSON"
