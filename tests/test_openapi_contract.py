"""The OpenAPI document is valid and strict, and every route of the app keeps its contract: a typed answer, only
statuses its code can produce (and every one it visibly can), documented credentials and headers.

The checks walk the app's routes, so a route added anywhere is covered without touching this file.
"""

from __future__ import annotations

import copy
import json
import typing
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from ingress import apidocs, openapi_document
from ingress.app import create_app
from ingress.settings import IngressSettings
from tests.route_statuses import derive

DOCUMENT_URI = "urn:luntrex:openapi"
# Statuses the source walk finds but a route cannot reach (the walk does not follow branches), with the reason.
UNREACHABLE: dict[str, dict[int, str]] = {
    "POST /api/v1/admin/workspaces/{workspace_id}/keys": {429: "the hourly mint limit binds workspace keys only"},
    "POST /api/v1/admin/keys/{key_id}/rotate": {429: "the hourly mint limit binds workspace keys only"},
}


@pytest.fixture(scope="module")
def app() -> Any:
    return create_app(IngressSettings())


@pytest.fixture(scope="module")
def document(app: Any) -> dict[str, Any]:
    found: dict[str, Any] = app.openapi()
    return found


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _dangling_refs(document: dict[str, Any]) -> list[str]:
    """Every `$ref` that does not resolve in the document (a full dereference, not a sample)."""
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    resolver = Registry().with_resource(DOCUMENT_URI, resource).resolver(base_uri=DOCUMENT_URI)
    dangling = []
    for ref in sorted(set(_refs(document))):
        try:
            resolver.lookup(ref)
        except Unresolvable:
            dangling.append(ref)
    return dangling


def test_the_committed_documents_and_snippets_match_the_generator() -> None:
    files = apidocs.generated_files(apidocs.openapi_document())
    assert apidocs.drifted(files) == [], "regenerate with: python -m ingress.apidocs"


def test_the_document_validates_and_every_reference_resolves(document: dict[str, Any]) -> None:
    validate(document)
    assert _dangling_refs(document) == []
    assert "$defs" not in json.dumps(document)


def test_the_reference_check_catches_a_dangling_reference(document: dict[str, Any]) -> None:
    """The published document of issue 10 pointed at `#/$defs/...`; the check must refuse such a document."""
    broken = copy.deepcopy(document)
    broken["paths"]["/api/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]["schema"] = {
        "$ref": "#/$defs/ChatMessage"
    }
    assert _dangling_refs(broken) == ["#/$defs/ChatMessage"]


def test_every_body_example_is_valid_against_its_schema(document: dict[str, Any]) -> None:
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource(DOCUMENT_URI, resource)
    checked = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None:
                continue
            schema = {
                "$ref": f"{DOCUMENT_URI}#/paths/{path.replace('/', '~1')}/{method}/requestBody/content/"
                "application~1json/schema"
            }
            jsonschema.Draft202012Validator(schema, registry=registry).validate(body["example"])
            checked += 1
    assert checked >= 15


def test_no_operation_lists_a_422_the_app_never_sends(document: dict[str, Any]) -> None:
    statuses = {status for item in document["paths"].values() for op in item.values() for status in op["responses"]}
    assert "422" not in statuses
    assert "HTTPValidationError" not in document["components"]["schemas"]


def _is_typed(model: Any) -> bool:
    if isinstance(model, type):
        return issubclass(model, BaseModel)
    arguments = typing.get_args(model)
    return bool(arguments) and all(_is_typed(argument) or argument is type(None) for argument in arguments)


def _streams_json_lines(route: Any) -> bool:
    """A route whose answer is JSON lines (batch results, a batch file) has no JSON model: its documented
    media type and schema say what it streams (checked by the test of typed answers below)."""
    content = route.responses.get(200, {}).get("content", {})
    return set(content) == {"application/jsonl"} and bool(content["application/jsonl"].get("schema"))


def test_every_route_declares_a_typed_response_model(app: Any) -> None:
    untyped = [
        f"{sorted(route.methods)} {route.path_format}"
        for route in openapi_document.api_routes(app)
        if route.status_code != 204 and not _is_typed(route.response_model) and not _streams_json_lines(route)
    ]
    assert untyped == [], "give these routes a pydantic response_model"


def test_every_route_lists_exactly_the_statuses_its_code_can_produce(app: Any) -> None:
    wrong = []
    for route in openapi_document.api_routes(app):
        name = f"{'/'.join(sorted(route.methods))} {route.path_format}"
        derived = derive(route)
        derived.errors -= set(UNREACHABLE.get(name, {}))
        declared = {int(status) for status in route.responses if str(status).isdigit()}
        declared_errors = {status for status in declared if status >= 400}
        declared_successes = {status for status in declared if status < 400} | {route.status_code or 200}
        if impossible := declared_errors - derived.possible_errors():
            wrong.append(f"{name} lists {sorted(impossible)}, which its code cannot answer")
        if missing := derived.errors - declared_errors:
            wrong.append(f"{name} can answer {sorted(missing)} but does not list it")
        if declared_successes != derived.successes:
            wrong.append(f"{name} lists successes {sorted(declared_successes)}, its code {sorted(derived.successes)}")
    assert wrong == []


def test_every_operation_types_its_answers_and_names_its_credential(document: dict[str, Any]) -> None:
    problems = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            name = f"{method.upper()} {path}"
            for status, response in operation["responses"].items():
                if status == "204":
                    continue
                schemas = [media.get("schema") for media in response.get("content", {}).values()]
                if not schemas or any(not schema for schema in schemas):
                    problems.append(f"{name} {status} has no schema")
            security = operation.get("security")
            if security not in ([{"bearerAuth": []}], [{"adminAuth": []}]):
                problems.append(f"{name} names no credential: {security}")
            if path.startswith("/api/v1/admin/") != (security == [{"adminAuth": []}]):
                problems.append(f"{name}: the admin API, and only it, takes the admin credential")
    assert problems == []


def test_the_conventions_headers_are_documented(document: dict[str, Any]) -> None:
    completions = document["paths"]["/api/v1/chat/completions"]["post"]
    parameters = {parameter["$ref"].rsplit("/", 1)[-1] for parameter in completions["parameters"]}
    assert parameters == {"Prefer", "Idempotency-Key"}
    accepted = set(completions["responses"]["202"]["headers"])
    assert {"Location", "Retry-After", "Preference-Applied", "Idempotent-Replayed"} <= accepted
    assert "Retry-After" in completions["responses"]["429"]["headers"]
    assert set(document["components"]["headers"]) >= {
        "Preference-Applied",
        "Location",
        "Retry-After",
        "Idempotent-Replayed",
    }
    error = document["components"]["schemas"]["ErrorBody"]
    assert set(error["properties"]) == {"error", "status", "code", "request_id", "retry_after"}
