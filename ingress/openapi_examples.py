"""Example request bodies of the OpenAPI document, by operation (`"POST /api/v1/keys"`).

They are real requests: the Postman collection and the code snippets send them to the running stack in tests,
so each must be accepted as it stands (ids and secrets that only exist at run time are substituted there).
An operation with a body and no entry here gets an example built from its schema's required fields.
"""

from __future__ import annotations

import json
from typing import Any

SEED_CHAT = {
    "model": "openai/gpt-4.1-mini",
    "messages": [{"role": "user", "content": "Write a short rhyming poem about the ocean."}],
    "max_tokens": 512,
}
# Effective dates far ahead: publishing a rate or price is never retroactive, and a test run must not change
# what the other tests of the same stack pay.
FUTURE = "2099-01-01T00:00:00Z"

# A small batch input file (OpenAI batch request lines, one JSON object a line): the upload's documented example.
BATCH_FILE_LINES = [
    {
        "custom_id": f"request-{number}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": text}], "max_tokens": 16},
    }
    for number, text in ((1, "Name a colour."), (2, "Name a river."))
]
BATCH_FILE = "".join(json.dumps(line) + "\n" for line in BATCH_FILE_LINES)

REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    # multipart/form-data: the text fields, and the file part's content (its field has a contentMediaType).
    "POST /api/v1/openai/files": {"purpose": "batch", "file": BATCH_FILE},
    "POST /api/v1/chat/completions": SEED_CHAT,
    "POST /api/v1/openai/chat/completions": {
        "model": "openai/gpt-4.1-mini",
        "messages": [{"role": "user", "content": "Say hello in five words."}],
        "max_tokens": 32,
    },
    "POST /api/v1/topups": {"amount_bdt": "250.50", "method": "invoice"},
    "POST /api/v1/webhooks": {
        "url": "https://hooks.example.com/luntrex",
        "event_types": ["job.completed", "job.failed"],
        "description": "production receiver",
    },
    "PATCH /api/v1/webhooks/{endpoint_id}": {"description": "production receiver (v2)"},
    "POST /api/v1/webhooks/{endpoint_id}/rotate-secret": {"grace_s": 3600},
    "POST /api/v1/batches": {
        "requests": [
            {
                "custom_id": "request-1",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "Hi"}]},
            }
        ],
        "completion_window": "24h",
    },
    "POST /api/v1/openai/batches": {
        "input_file_id": "file-0123456789abcdef",
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "metadata": {"project": "docs"},
    },
    "PUT /api/v1/billing/auto-topup": {"threshold_tokens": 50000, "amount_bdt": "500", "method": "invoice"},
    "POST /api/v1/billing/alert-thresholds": {"kind": "absolute", "threshold_tokens": 10000},
    "PUT /api/v1/billing/webhook": {"url": "https://hooks.example.com/luntrex"},
    "POST /api/v1/keys": {
        "name": "ci",
        "scopes": ["inference"],
        "rpm_max": 60,
        "guardrails": {"deny": [{"name": "api-secrets", "pattern": "sk-[A-Za-z0-9]{20,}"}], "redact": ["email"]},
    },
    "PUT /api/v1/guardrails": {
        "allowed_models": ["openai/gpt-4.1-mini", "gemini-2.5-flash"],
        "max_prompt_chars": 50000,
        "deny": [
            {"name": "codenames", "keywords": ["Project Falcon", "Bluebird"]},
            {"name": "us-ssn", "pattern": "\\b\\d{3}-\\d{2}-\\d{4}\\b"},
        ],
        "redact": ["email", "phone", "card"],
    },
    "POST /api/v1/keys/{key_id}/rotate": {"grace_s": 600},
    "PUT /api/v1/keys/{key_id}/guardrails": {
        "max_prompt_chars": 8000,
        "deny": [{"name": "api-secrets", "pattern": "sk-[A-Za-z0-9]{20,}"}, {"name": "tickets", "keywords": ["ACME"]}],
        "redact": ["email"],
    },
    "POST /api/v1/admin/workspaces": {"name": "Acme research", "grant_tokens": 1000000},
    "PATCH /api/v1/admin/workspaces/{workspace_id}": {"name": "Acme research lab", "rpm_max": 600},
    "POST /api/v1/admin/workspaces/{workspace_id}/grants": {"tokens": 5000, "reason": "goodwill"},
    "POST /api/v1/admin/workspaces/{workspace_id}/keys": {"name": "batch", "scopes": ["inference", "billing"]},
    "POST /api/v1/admin/keys/{key_id}/rotate": {"grace_s": 60},
    "PUT /api/v1/admin/keys/{key_id}/guardrails": {
        "allowed_models": ["openai/gpt-4.1-mini"],
        "deny": [{"name": "codenames", "keywords": ["Project Falcon"]}],
    },
    "POST /api/v1/admin/workspaces/{workspace_id}/topups": {"amount_paisa": 25050, "method": "card"},
    "POST /api/v1/admin/workspaces/{workspace_id}/refunds": {"job_id": "job_0123456789abcdef", "reason": "bad answer"},
    "POST /api/v1/admin/workspaces/{workspace_id}/adjustments": {"tokens": -500, "reason": "correction"},
    "POST /api/v1/admin/workspaces/{workspace_id}/rates": {
        "tokens_per_bdt": "600",
        "effective_at": FUTURE,
        "reason": "volume discount",
    },
    "POST /api/v1/admin/rates": {"tokens_per_bdt": "520", "effective_at": FUTURE, "reason": "new platform rate"},
    "POST /api/v1/admin/prices": {
        "model_id": "openai/gpt-4.1-mini",
        "input_multiplier": "3/4",
        "output_multiplier": "1",
        "effective_at": FUTURE,
    },
}


def example_for(operation_key: str, schema: dict[str, Any] | None, components: dict[str, Any]) -> Any:
    """The documented example of an operation's body, else one built from its schema's required fields."""
    if operation_key in REQUEST_EXAMPLES:
        return REQUEST_EXAMPLES[operation_key]
    return _from_schema(schema or {}, components, depth=0)


def _from_schema(schema: dict[str, Any], components: dict[str, Any], depth: int) -> Any:
    if depth > 8:
        return None
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return _from_schema(components.get(name, {}), components, depth + 1)
    if "example" in schema:
        return schema["example"]
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [option for option in schema[key] if option.get("type") != "null"]
            return _from_schema(options[0] if options else {}, components, depth + 1)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        required = schema.get("required", [])
        properties = schema.get("properties", {})
        return {name: _from_schema(properties.get(name, {}), components, depth + 1) for name in required}
    if kind == "array":
        return [_from_schema(schema.get("items", {}), components, depth + 1)] if schema.get("minItems") else []
    if "enum" in schema:
        return schema["enum"][0]
    return {"integer": 1, "number": 1, "boolean": True, "string": "example"}.get(str(kind))
