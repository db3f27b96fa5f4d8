"""The Postman collection and environment, generated from the OpenAPI document.

Every operation becomes one request, in the walk's order (`walkthrough.STEPS`): path variables filled from
collection variables that earlier answers set (the workspace and its key from the workspace's creation, a job
id from a completion, a key id from a key's creation), bodies from the documented examples, and tests that
check the status and validate the answer against the documented schema. An upload is a `formdata` body whose
file part reads `docs/luntrex.<operation>.jsonl` (`upload_files`; run newman with `--working-dir docs`); a
JSON-lines answer is checked line by line; a step with `until` runs again (`setNextRequest`, a pause between)
until its answer says so. `newman run` runs it as it stands.
"""

from __future__ import annotations

import json
from typing import Any

from ingress.apidocs import walkthrough

API_PREFIX = "/api/v1"
SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
DEFAULT_BASE_URL = "http://127.0.0.1:8080/api/v1"
# A local port nothing listens on (discard): the walk's webhook is set and removed, never delivered anywhere.
DEFAULT_WEBHOOK_URL = "http://127.0.0.1:9/luntrex-webhook"
DEREFERENCE_DEPTH_MAX = 32


def dereference(node: Any, schemas: dict[str, Any], depth: int = 0) -> Any:
    """A schema with every `#/components/schemas/...` reference inlined (the API has no recursive schema)."""
    if depth > DEREFERENCE_DEPTH_MAX:
        raise ValueError("schema nesting too deep: a recursive schema cannot be inlined")
    if isinstance(node, dict):
        if "$ref" in node:
            name = str(node["$ref"]).rsplit("/", 1)[-1]
            return dereference(schemas[name], schemas, depth + 1)
        return {key: dereference(value, schemas, depth + 1) for key, value in node.items()}
    if isinstance(node, list):
        return [dereference(value, schemas, depth + 1) for value in node]
    return node


def success_schema(openapi: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    response = operation["responses"].get(str(walkthrough.success_status(operation)), {})
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return None
    found: dict[str, Any] = dereference(schema, openapi["components"]["schemas"])
    return found


def _body(example: Any, step: walkthrough.Step) -> str:
    if isinstance(example, dict):
        example = example | {name: f"{{{{{variable}}}}}" for name, variable in step.body_variables.items()}
    return json.dumps(example, indent=2)


def upload_file_name(operation: str) -> str:
    """The file an upload step sends, beside the collection in docs/ (`POST /api/v1/openai/files` ->
    `luntrex.post_openai_files.jsonl`)."""
    method, path = operation.split(" ", 1)
    words = "_".join(part for part in path.removeprefix(API_PREFIX).split("/") if part and "{" not in part)
    return f"luntrex.{method.lower()}_{words}.jsonl"


def upload_files(openapi: dict[str, Any]) -> dict[str, str]:
    """Every upload step's file and its content (the documented example's file part)."""
    files = {}
    for step in walkthrough.walk(openapi):
        upload = walkthrough.upload_of(walkthrough.operation_of(openapi, step.operation))
        if upload is not None:
            files[upload_file_name(step.operation)] = upload.file_text
    return files


def _json_lines_tests() -> list[str]:
    key = walkthrough.JSON_LINE_KEY
    return [
        'const lines = pm.response.text().split("\\n").filter(function (line) { return line.trim() !== ""; });',
        'pm.test("the answer is JSON lines", function () {',
        "    pm.expect(lines.length).to.be.above(0);",
        "    lines.forEach(function (line) {",
        "        const item = JSON.parse(line);",
        f'        pm.expect(item).to.be.an("object").that.has.property("{key}");',
        "    });",
        "});",
    ]


def _until_tests(step: walkthrough.Step) -> list[str]:
    """Run this request again until the answer's field holds a final value (bounded), then test that it does."""
    assert step.until is not None
    field, values = step.until
    expression = "pm.response.json()" + "".join(f'["{part}"]' for part in field.split("."))
    return [
        f"const finalValues = {json.dumps(list(values))};",
        f"const reached = {expression};",
        'const tries = Number(pm.collectionVariables.get("pollTries") || 0);',
        f"if (!finalValues.includes(reached) && tries < {walkthrough.POLL_TRIES_MAX}) {{",
        '    pm.collectionVariables.set("pollTries", tries + 1);',
        "    postman.setNextRequest(pm.info.requestName);",
        f"    setTimeout(function () {{}}, {int(walkthrough.POLL_INTERVAL_S * 1000)});",
        "} else {",
        '    pm.collectionVariables.set("pollTries", 0);',
        f'    pm.test("{field} reaches one of " + finalValues.join(", "), function () {{',
        "        pm.expect(finalValues).to.include(reached);",
        "    });",
        "}",
    ]


def _tests(openapi: dict[str, Any], operation: dict[str, Any], step: walkthrough.Step) -> list[str]:
    status = walkthrough.success_status(operation)
    lines = [f'pm.test("answers {status}", function () {{ pm.response.to.have.status({status}); }});']
    if walkthrough.answers_json_lines(operation):
        lines += _json_lines_tests()
    if step.until is not None:
        lines += _until_tests(step)
    schema = success_schema(openapi, operation)
    if schema is not None:
        lines += [
            f"const schema = {json.dumps(schema, sort_keys=True)};",
            'pm.test("the answer matches the documented schema", function () {',
            "    pm.response.to.have.jsonSchema(schema);",
            "});",
        ]
    if step.captures:
        lines.append("const answer = pm.response.json();")
        for variable, where in step.captures.items():
            expression = "answer" + "".join(
                f"[{part}]" if part.isdigit() else f'["{part}"]' for part in where.split(".")
            )
            lines.append(f'pm.collectionVariables.set("{variable}", {expression});')
    return lines


# Postman's pre-request script for each generated variable (see walkthrough.GENERATED_VARIABLES).
_GENERATORS = {
    "effectiveAt": "new Date(Date.UTC(2099, 0, 1) + Math.floor(Math.random() * 1e12)).toISOString()",
}


def _events(openapi: dict[str, Any], operation: dict[str, Any], step: walkthrough.Step) -> list[dict[str, Any]]:
    events = [{"listen": "test", "script": {"type": "text/javascript", "exec": _tests(openapi, operation, step)}}]
    generated = [variable for variable in step.body_variables.values() if variable in _GENERATORS]
    if generated:
        lines = [f'pm.collectionVariables.set("{name}", {_GENERATORS[name]});' for name in generated]
        events.insert(0, {"listen": "prerequest", "script": {"type": "text/javascript", "exec": lines}})
    return events


def _request(openapi: dict[str, Any], step: walkthrough.Step) -> dict[str, Any]:
    method, path = step.operation.split(" ", 1)
    operation = walkthrough.operation_of(openapi, step.operation)
    relative = path.removeprefix(API_PREFIX)
    parameters = walkthrough.path_parameters(path)
    for name in parameters:
        relative = relative.replace(f"{{{name}}}", f":{name}")
    headers: list[dict[str, str]] = []
    request: dict[str, Any] = {"method": method, "header": headers}
    example = walkthrough.body_example(operation)
    upload = walkthrough.upload_of(operation)
    if example is not None:
        headers.append({"key": "Content-Type", "value": "application/json"})
        request["body"] = {"mode": "raw", "raw": _body(example, step), "options": {"raw": {"language": "json"}}}
    elif upload is not None:
        parts: list[dict[str, str]] = [{"key": k, "value": v, "type": "text"} for k, v in upload.fields.items()]
        parts.append({"key": upload.file_field, "type": "file", "src": upload_file_name(step.operation)})
        request["body"] = {"mode": "formdata", "formdata": parts}
    declared = {p.get("name") for p in operation.get("parameters", [])} | {
        str(p.get("$ref", "")).rsplit("/", 1)[-1] for p in operation.get("parameters", [])
    }
    for name in walkthrough.FRESH_HEADERS:
        if name in declared:
            headers.append({"key": name, "value": "{{$guid}}"})
    request["url"] = {
        "raw": "{{baseUrl}}" + relative,
        "host": ["{{baseUrl}}"],
        "path": [part for part in relative.split("/") if part],
        "variable": [{"key": name, "value": f"{{{{{walkthrough.variable_of(name)}}}}}"} for name in parameters],
    }
    if walkthrough.is_admin(operation):
        request["auth"] = {"type": "bearer", "bearer": [{"key": "token", "value": "{{adminKey}}", "type": "string"}]}
    if operation.get("description"):
        request["description"] = operation["description"]
    return request


def collection(openapi: dict[str, Any]) -> dict[str, Any]:
    """A Postman v2.1 collection with one request per operation, runnable end to end by newman."""
    steps = walkthrough.walk(openapi)
    chained = sorted(
        {variable for step in steps for variable in step.captures}
        | {walkthrough.variable_of(name) for step in steps for name in walkthrough.path_parameters(step.operation)}
    )
    items = []
    for step in steps:
        operation = walkthrough.operation_of(openapi, step.operation)
        items.append(
            {
                "name": f"{operation.get('summary', step.operation)} ({step.operation})",
                "request": _request(openapi, step),
                "event": _events(openapi, operation, step),
            }
        )
    return {
        "info": {
            "name": openapi["info"]["title"],
            "description": "Generated from docs/openapi.json by `python -m ingress.apidocs`; run it in order "
            "(it creates a workspace through the admin API and carries its key and ids along).",
            "schema": SCHEMA_URL,
        },
        "auth": {"type": "bearer", "bearer": [{"key": "token", "value": "{{apiKey}}", "type": "string"}]},
        "variable": [{"key": name, "value": ""} for name in chained],
        "item": items,
    }


def environment() -> dict[str, Any]:
    """The local stack's environment: where it listens, the admin credential to paste, a webhook target."""
    values = {
        "baseUrl": DEFAULT_BASE_URL,
        "adminKey": "<LUNTREX_ADMIN_KEY from .run/stack.env>",
        "webhookUrl": DEFAULT_WEBHOOK_URL,
        "modelId": walkthrough.MODEL_ID,
    }
    return {
        "name": "Luntrex local stack",
        "values": [{"key": key, "value": value, "enabled": True} for key, value in values.items()],
        "_postman_variable_scope": "environment",
    }
