"""The API's OpenAPI document, built from the app's routes and made self-contained and strict.

FastAPI's own document is close but not valid as served: a request body schema given through `openapi_extra`
keeps pydantic's `#/$defs/...` references, which point nowhere in an OpenAPI document; every route with a
parameter lists a 422 the app never sends (it answers validation errors with 400 in the error shape); and
authentication is a plain dependency, so no operation says which credential it takes. `document` fixes all
three generically, for every route, and adds what every operation shares: the door's errors (`default`), the
headers of the conventions (`Prefer`, `Idempotency-Key`, `Retry-After`, ...) and the bearer schemes.

Routes declare their own statuses with `error_responses(...)`; `tests/test_openapi_contract.py` checks each
declaration against what the route's code can raise.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel

from ingress import auth
from ingress.api_models import OpenAIErrorBody
from ingress.openapi_examples import example_for
from schemas.api import ErrorBody

OPENAI_PREFIX = "/api/v1/openai/"
_SCHEMAS = "#/components/schemas/"

ERROR_DESCRIPTIONS = {
    400: "invalid request: a field missing, malformed or out of range, or a body that is not JSON",
    401: "missing, unknown, revoked or expired bearer key",
    403: "the key may not do this: a missing scope, its own limits, a suspended workspace, an admin-only route",
    404: "no such resource in this workspace, or no such model",
    408: "the request's headers or body did not arrive in time",
    409: "conflict: an `Idempotency-Key` reused with another body, or a state that forbids the change",
    413: "request body over the limit",
    429: "a rate limit: wait `Retry-After` seconds",
    431: "request headers over the limit",
    500: "an internal error",
    502: "the provider failed",
    503: "the queue or the ledger is unreachable: retry after `Retry-After` seconds",
    504: "the provider timed out",
}
# Answered at the door, before any route runs, whatever the route: documented once per operation as `default`.
DOOR_DESCRIPTION = (
    "an error in the API error shape; besides the statuses listed, the door may answer any route with "
    "408 (slow request), 413 (body too large), 431 (headers too large) or 500 (internal error)"
)

HEADERS: dict[str, dict[str, Any]] = {
    "Retry-After": {
        "description": "seconds to wait before retrying (also `retry_after` in an error body)",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Location": {
        "description": "where to poll the accepted job: `/api/v1/jobs/{id}`",
        "schema": {"type": "string"},
    },
    "Preference-Applied": {
        "description": "the `Prefer` preferences honoured (RFC 7240), such as `respond-async` or `wait=5`",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this answer replays the first request sent with the same `Idempotency-Key`",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "X-Request-Id": {
        "description": "the request's id (also `request_id` in an error body)",
        "schema": {"type": "string"},
    },
}
PARAMETERS: dict[str, dict[str, Any]] = {
    "Prefer": {
        "name": "Prefer",
        "in": "header",
        "required": False,
        "description": (
            "RFC 7240: `wait=N` waits at most N seconds for the billed answer (then 202), `respond-async` "
            "answers 202 at once; the honoured ones are echoed in `Preference-Applied`"
        ),
        "schema": {"type": "string", "examples": ["wait=10", "respond-async"]},
    },
    "Idempotency-Key": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": (
            "up to 255 printable characters: within 24 h the same key and body return the same job and "
            "result, never charged twice; the same key with another body is 409"
        ),
        "schema": {"type": "string", "maxLength": 255},
    },
}


def header_refs(*names: str) -> dict[str, dict[str, str]]:
    """Response headers for a route's `responses=`, as references to the document's shared headers."""
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def parameter_refs(*names: str) -> list[dict[str, str]]:
    """Request headers a route reads itself, for its `openapi_extra={"parameters": ...}`."""
    return [{"$ref": f"#/components/parameters/{name}"} for name in names]


def error_responses(*statuses: int, model: type[BaseModel] = ErrorBody) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entries of a route's error statuses, in the API error shape (or OpenAI's, via `model`)."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": model, "description": ERROR_DESCRIPTIONS[status]}
        if status in (429, 503):
            entry["headers"] = header_refs("Retry-After")
        responses[status] = entry
    return responses


def document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `app`: every reference resolvable, no status the app never sends."""
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})
    for model in (ErrorBody, OpenAIErrorBody):
        _add_schema(schema, model)
    _hoist_defs(schema, components["schemas"])
    components["headers"] = HEADERS
    components["parameters"] = PARAMETERS
    components["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer", "description": "a workspace API key"},
        "adminAuth": {"type": "http", "scheme": "bearer", "description": "the operator's `LUNTREX_ADMIN_KEY`"},
    }
    for route in api_routes(app):
        for method in route.methods:
            operation = schema["paths"][route.path_format][method.lower()]
            _finish_operation(operation, route)
            _add_body_example(operation, f"{method} {route.path_format}", components["schemas"])
    for unused in ("HTTPValidationError", "ValidationError"):
        components["schemas"].pop(unused, None)
    return schema


def _add_body_example(operation: dict[str, Any], key: str, schemas: dict[str, Any]) -> None:
    media = operation.get("requestBody", {}).get("content", {})
    for media_type in ("application/json", "multipart/form-data"):
        content = media.get(media_type)
        if content is not None:
            content["example"] = example_for(key, content.get("schema"), schemas)


def api_routes(app: FastAPI) -> list[Any]:
    """Every documented API route with its effective settings (path, dependencies, responses, models).

    FastAPI (>= 0.16x) resolves included routers lazily, so `app.routes` holds the routers, not their routes.
    """
    iterate = getattr(routing, "iter_route_contexts", None)
    routes: list[Any] = list(iterate(app.routes)) if iterate is not None else list(app.routes)
    return [
        route
        for route in routes
        if isinstance(getattr(route, "original_route", route), APIRoute) and route.include_in_schema
    ]


def _finish_operation(operation: dict[str, Any], route: Any) -> None:
    responses = operation["responses"]
    responses.pop("422", None)
    error_model = OpenAIErrorBody if route.path_format.startswith(OPENAI_PREFIX) else ErrorBody
    responses["default"] = {
        "description": DOOR_DESCRIPTION,
        "headers": header_refs("X-Request-Id"),
        "content": {"application/json": {"schema": {"$ref": _SCHEMAS + error_model.__name__}}},
    }
    # The status a plain call answers, for the generated collection and snippets (a route may list others).
    operation["x-success-status"] = route.status_code or 200
    credential = credential_of(route)
    if credential is not None:
        operation["security"] = [{credential: []}]


def credential_of(route: Any) -> str | None:
    """The security scheme a route's dependencies authenticate with: the admin credential or a workspace key."""
    calls = set(_dependency_calls(route.dependant))
    if auth.authenticate_admin in calls:
        return "adminAuth"
    if calls & {
        auth.authenticate,
        auth.authenticate_inference,
        auth.authenticate_reader,
        auth.authenticate_billing,
        auth.authenticate_billing_or_manager,
        auth.authenticate_manager,
    }:
        return "bearerAuth"
    return None


def _dependency_calls(dependant: Dependant) -> list[Any]:
    calls = []
    for sub in dependant.dependencies:
        calls.append(sub.call)
        calls.extend(_dependency_calls(sub))
    return calls


def _add_schema(schema: dict[str, Any], model: type[BaseModel]) -> None:
    found = model.model_json_schema(ref_template=_SCHEMAS + "{model}", mode="serialization")
    defs = found.pop("$defs", {})
    for name, definition in {**defs, model.__name__: found}.items():
        schema["components"]["schemas"].setdefault(name, definition)


def _hoist_defs(node: Any, schemas: dict[str, Any]) -> None:
    """Move every nested `$defs` into `components/schemas` and point its references there."""
    if isinstance(node, dict):
        for name, definition in node.pop("$defs", {}).items():
            # Its own references first, so the same model met twice compares equal however it was reached.
            _hoist_defs(definition, schemas)
            existing = schemas.setdefault(name, definition)
            if existing != definition:
                raise ValueError(f"two different schemas are named {name!r}; rename one of the models")
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            node["$ref"] = _SCHEMAS + ref.removeprefix("#/$defs/")
        for value in list(node.values()):
            _hoist_defs(value, schemas)
    elif isinstance(node, list):
        for value in node:
            _hoist_defs(value, schemas)
