"""A plain batch line's stored job without a pydantic round trip: the same job the full path builds, or None.

Most batch lines differ only in their messages: the same model, `max_tokens` and sampling settings, plain text
from `system`/`developer`/`user`/`assistant`. For such a line, everything but the messages (the route, the key's
and the model's limits, the options, the deadline) is decided once per distinct set of settings by the full path
(`ingress.batch_lines.parse_document`, run on the settings with a one-message probe) and kept as a template;
each line then checks only its own messages, exactly as the full path checks them (a list of 1 to `messages_max`
objects of `role` and `content`, the content a string without NUL), its context bound, and takes its input
token estimate. The stored JSON is the template's with the line's job id, event id, messages and estimate.

Anything else returns None and the line goes through the full path, which also gives every refusal its
message: the fast path never refuses a line, it only accepts lines the full path accepts, with the same job
(`tests/test_batch_fastpath.py` checks the two paths against each other on generated lines).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ingress import estimate, submission
from schemas import json_integers
from schemas.catalogue import Catalogue, ModelEntry

# The body fields a template may fix; any other field (tools, stop, n, metadata...) takes the full path.
TEMPLATE_FIELDS = frozenset({"model", "max_tokens", "max_completion_tokens", "temperature", "top_p"})
LINE_FIELDS = frozenset({"custom_id", "method", "url", "body"})
# OpenAI's `developer` is our `system`; a `tool` message needs a `tool_call_id`, so it takes the full path.
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
PROBE_MESSAGES = ({"role": "user", "content": "probe"},)
# A template field's value with its type: `true` and `1`, or `1` and `1.0`, are different settings.
SettingsKey = tuple[tuple[str, type, Any], ...]


@dataclass(frozen=True, slots=True)
class Template:
    """What the full path decided for one set of settings."""

    job: dict[str, Any]
    pool: str
    route: tuple[ModelEntry, ...]
    max_tokens: int
    context_tokens: int


def settings_key(body: dict[str, Any]) -> SettingsKey | None:
    """The body's settings as a dict key, or None when the body has a field a template cannot fix."""
    key = []
    for name, value in body.items():
        if name == "messages":
            continue
        if name not in TEMPLATE_FIELDS or type(value) not in (str, int, float):
            return None
        if type(value) is float and json_integers.may_hold_wide_integer(value):
            return None  # maybe orjson's reading of an integer beyond 64 bits: the full path refuses it exactly
        key.append((name, type(value), value))
    return tuple(sorted(key))


def messages_of(body: dict[str, Any], messages_max: int) -> list[dict[str, str]] | None:
    """The line's messages as the job stores them, or None unless each is plain text the full path accepts."""
    raw = body.get("messages")
    if type(raw) is not list or not 0 < len(raw) <= messages_max:
        return None
    messages = []
    for message in raw:
        if type(message) is not dict or len(message) != 2:
            return None
        role, content = message.get("role"), message.get("content")
        if type(role) is not str or role not in ROLES or type(content) is not str or "\x00" in content:
            return None
        messages.append({"role": ROLES[role], "content": content})
    return messages


def stored_job(template: Template, messages: list[dict[str, str]], *, job_id: str, event_id: str) -> bytes | None:
    """The line's job as JSON, or None when its prompt could overflow the model's context (the full path says
    why). It occurred when the template's probe did: when the batch was read."""
    contents = [message["content"] for message in messages]
    if estimate.input_tokens_floor(contents) + template.max_tokens > template.context_tokens:
        return None
    job = dict(template.job)
    job["event_id"] = event_id
    job["job_id"] = job_id
    job["input_tokens_estimate"] = estimate.route_input_tokens_ceiling(contents, template.route)
    job["params"] = {**template.job["params"], "messages": messages}
    return orjson.dumps(job)


def template_of(job_json: str, pool: str, catalogue: Catalogue) -> Template:
    """A template from the job the full path built for the settings' probe: its route (the fallbacks the key and
    the settings allow) prices every line's estimate; its model's context bounds every line's prompt."""
    job: dict[str, Any] = orjson.loads(job_json)
    return Template(
        job=job,
        pool=pool,
        route=tuple(catalogue.get(model_id) for model_id in job["route"]),
        max_tokens=int(job["params"]["max_tokens"]),
        context_tokens=catalogue.get(job["model_id"]).context_tokens,
    )


def may_take(line_bytes: int, event_max_bytes: int) -> bool:
    """Whether a line is short enough that its event can never exceed the limit (no need to measure it)."""
    return not submission.may_exceed(line_bytes, event_max_bytes)
