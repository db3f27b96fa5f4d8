"""The order in which the generated Postman collection and the snippet test call the API, and what they carry
from one answer to the next request (a workspace's id and key from its creation, a job id from a completion).

One walk covers every operation of the document: those listed in `STEPS` first, in that order (creations
before the reads and changes that need their ids, destructive calls last); any other operation (a route added
later) follows in path order with its documented example. Its variables are named once here and used by both:
Postman's `{{workspaceId}}` is the snippets' `LUNTREX_WORKSPACE_ID`.

Three kinds of call are more than "send the JSON example, read one JSON answer", and the document says which:
an upload (`multipart/form-data` body: its text fields and a JSONL file, the documented example's `file`), an
answer in JSON lines (`application/jsonl`: read line by line, each line a batch line with a `custom_id`), and a
step with `until` (repeat the call until the answer says the batch finished, so its results exist to be read).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

HTTP_METHODS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class Step:
    """One call: its operation, the answer's fields it keeps (variable -> dotted path), the body fields it
    fills from variables (field -> variable), and whether it may run more than once per workspace."""

    operation: str
    captures: dict[str, str] = field(default_factory=dict)
    body_variables: dict[str, str] = field(default_factory=dict)
    # Repeat the call (every POLL_INTERVAL_S, at most POLL_TRIES_MAX times) until the answer's field (dotted
    # path) holds one of these values.
    until: tuple[str, tuple[str, ...]] | None = None


# A batch's statuses once nothing more will run.
BATCH_FINISHED = ("completed", "cancelled", "expired")
POLL_INTERVAL_S = 0.5
POLL_TRIES_MAX = 240
# Every JSON-lines answer of the API is batch lines, each naming its request.
JSON_LINE_KEY = "custom_id"


STEPS: tuple[Step, ...] = (
    Step("POST /api/v1/admin/workspaces", captures={"workspaceId": "id", "apiKey": "api_key"}),
    Step("GET /api/v1/admin/workspaces"),
    Step("GET /api/v1/admin/workspaces/{workspace_id}"),
    Step("PATCH /api/v1/admin/workspaces/{workspace_id}"),
    Step("POST /api/v1/admin/workspaces/{workspace_id}/grants"),
    Step("GET /api/v1/models"),
    Step("GET /api/v1/openai/models"),
    Step("GET /api/v1/openai/models/{model_id}"),
    # An endpoint subscribed before the completion, so the completion leaves a delivery to read and redeliver.
    Step("POST /api/v1/webhooks", captures={"endpointId": "id"}, body_variables={"url": "webhookUrl"}),
    Step("POST /api/v1/chat/completions", captures={"jobId": "id"}),
    Step("GET /api/v1/jobs/{job_id}"),
    Step("POST /api/v1/openai/chat/completions"),
    Step("GET /api/v1/balance"),
    Step("GET /api/v1/usage"),
    Step("GET /api/v1/ledger/entries"),
    Step("GET /api/v1/ledger/statement"),
    Step("GET /api/v1/ledger/usage"),
    Step("POST /api/v1/topups"),
    Step("GET /api/v1/topups", captures={"invoiceId": "data.0.invoice_id"}),
    Step("GET /api/v1/alerts"),
    Step("PUT /api/v1/billing/auto-topup"),
    Step("POST /api/v1/billing/alert-thresholds", captures={"thresholdId": "id"}),
    Step("DELETE /api/v1/billing/alert-thresholds/{threshold_id}"),
    Step("PUT /api/v1/billing/webhook", body_variables={"url": "webhookUrl"}),
    Step("DELETE /api/v1/billing/webhook"),
    Step("GET /api/v1/webhooks"),
    Step("GET /api/v1/webhooks/{endpoint_id}"),
    Step("PATCH /api/v1/webhooks/{endpoint_id}"),
    Step("POST /api/v1/webhooks/{endpoint_id}/rotate-secret"),
    Step("GET /api/v1/webhooks/{endpoint_id}/deliveries", captures={"deliveryId": "data.0.id"}),
    Step("POST /api/v1/webhooks/deliveries/{delivery_id}/redeliver"),
    Step("DELETE /api/v1/webhooks/{endpoint_id}"),
    Step("POST /api/v1/batches", captures={"batchId": "id"}),
    Step("GET /api/v1/batches"),
    Step("GET /api/v1/batches/{batch_id}", until=("status", BATCH_FINISHED)),
    Step("GET /api/v1/batches/{batch_id}/results"),
    Step("POST /api/v1/openai/files", captures={"fileId": "id"}),
    Step("GET /api/v1/openai/files"),
    Step("GET /api/v1/openai/files/{file_id}"),
    Step("GET /api/v1/openai/files/{file_id}/content"),
    # The OpenAI batch made from the uploaded file is the one the cancellations below cancel.
    Step("POST /api/v1/openai/batches", captures={"batchId": "id"}, body_variables={"input_file_id": "fileId"}),
    Step("GET /api/v1/openai/batches"),
    Step("GET /api/v1/openai/batches/{batch_id}"),
    Step("POST /api/v1/openai/batches/{batch_id}/cancel"),
    Step("POST /api/v1/batches/{batch_id}/cancel"),
    # Deleted once its batch was made from it: the batch keeps its own copy of the lines.
    Step("DELETE /api/v1/openai/files/{file_id}"),
    # Guardrails after every completion of the walk, so its calls answer as they do for a workspace without any.
    Step("PUT /api/v1/guardrails"),
    Step("GET /api/v1/guardrails"),
    Step("POST /api/v1/keys", captures={"keyId": "id"}),
    Step("GET /api/v1/keys"),
    Step("PUT /api/v1/keys/{key_id}/guardrails"),
    Step("GET /api/v1/keys/{key_id}/guardrails"),
    Step("DELETE /api/v1/keys/{key_id}/guardrails"),
    Step("POST /api/v1/keys/{key_id}/rotate"),
    Step("DELETE /api/v1/keys/{key_id}"),
    Step("POST /api/v1/admin/workspaces/{workspace_id}/topups"),
    Step("POST /api/v1/admin/workspaces/{workspace_id}/invoices/{invoice_id}/paid"),
    Step("POST /api/v1/admin/workspaces/{workspace_id}/refunds", body_variables={"job_id": "jobId"}),
    Step("POST /api/v1/admin/workspaces/{workspace_id}/adjustments"),
    Step("POST /api/v1/admin/workspaces/{workspace_id}/rates"),
    Step("POST /api/v1/admin/rates", body_variables={"effective_at": "effectiveAt"}),
    Step("POST /api/v1/admin/prices", body_variables={"effective_at": "effectiveAt"}),
    Step("POST /api/v1/admin/workspaces/{workspace_id}/keys", captures={"keyId": "id"}),
    Step("GET /api/v1/admin/workspaces/{workspace_id}/keys"),
    Step("PUT /api/v1/admin/keys/{key_id}/guardrails"),
    Step("GET /api/v1/admin/keys/{key_id}/guardrails"),
    Step("DELETE /api/v1/admin/keys/{key_id}/guardrails"),
    Step("POST /api/v1/admin/keys/{key_id}/rotate"),
    Step("DELETE /api/v1/admin/keys/{key_id}"),
    Step("POST /api/v1/admin/workspaces/{workspace_id}/suspend"),
    Step("POST /api/v1/admin/workspaces/{workspace_id}/resume"),
)
# Operations the walk leaves to other tests, with the reason (none: uploads and JSON lines are walked too).
NOT_WALKED: dict[str, str] = {}
# Headers sent with a fresh value on every call, so a rerun is a new request, not a replay.
FRESH_HEADERS = ("Idempotency-Key",)
# Variables a walk makes up rather than reads from an answer. A platform rate's or a model's price version needs
# a time of its own, and one far ahead: a walk must not change what anybody pays now.
GENERATED_VARIABLES = {"effectiveAt": "a moment after 2099-01-01 that no earlier walk used"}
# A catalogue model every walk may read (an alias: no "/" to escape in a path).
MODEL_ID = "gpt-4.1-mini"


def variable_of(path_parameter: str) -> str:
    """A path parameter's variable: `job_id` -> `jobId`."""
    head, *rest = path_parameter.split("_")
    return head + "".join(part.capitalize() for part in rest)


def env_name(variable: str) -> str:
    """A variable's environment name in the snippets: `jobId` -> `LUNTREX_JOB_ID`."""
    return "LUNTREX_" + re.sub(r"(?<!^)(?=[A-Z])", "_", variable).upper()


def walk(openapi: dict[str, Any]) -> list[Step]:
    """Every operation of the document, as steps in calling order."""
    operations = [
        f"{method.upper()} {path}"
        for path, item in sorted(openapi["paths"].items())
        for method in HTTP_METHODS
        if method in item
    ]
    listed = [step for step in STEPS if step.operation in operations]
    named = {step.operation for step in listed} | set(NOT_WALKED)
    return listed + [Step(operation) for operation in operations if operation not in named]


def operation_of(openapi: dict[str, Any], key: str) -> dict[str, Any]:
    method, path = key.split(" ", 1)
    operation: dict[str, Any] = openapi["paths"][path][method.lower()]
    return operation


def is_admin(operation: dict[str, Any]) -> bool:
    return any("adminAuth" in requirement for requirement in operation.get("security", []))


def success_status(operation: dict[str, Any]) -> int:
    """The status a plain call answers (`x-success-status`, which the document builder records per route)."""
    return int(operation["x-success-status"])


def body_example(operation: dict[str, Any]) -> Any:
    return operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("example")


@dataclass(frozen=True)
class Upload:
    """A multipart body: its text fields, and the file part's field name and content."""

    fields: dict[str, str]
    file_field: str
    file_text: str


def upload_of(operation: dict[str, Any]) -> Upload | None:
    """The documented multipart example (the file part is the property with a `contentMediaType`), or None."""
    media = operation.get("requestBody", {}).get("content", {}).get("multipart/form-data")
    if media is None:
        return None
    properties = media["schema"]["properties"]
    [file_field] = [name for name, schema in properties.items() if "contentMediaType" in schema]
    example = dict(media["example"])
    return Upload({k: str(v) for k, v in example.items() if k != file_field}, file_field, example[file_field])


def answers_json_lines(operation: dict[str, Any]) -> bool:
    response = operation["responses"].get(str(success_status(operation)), {})
    return "application/jsonl" in response.get("content", {})


def path_parameters(path: str) -> list[str]:
    return re.findall(r"{([^}]+)}", path)


def query_parameters(operation: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in operation.get("parameters", []) if p.get("in") == "query"]
