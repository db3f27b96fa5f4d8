"""Gemini's two schema fields, as the real API checks them.

`generationConfig.responseSchema` and `functionDeclarations[].parameters` are Gemini's `Schema` message, a subset
of the OpenAPI 3.0 schema object: a keyword it does not have (`additionalProperties`, `$defs`, `$ref`,
`$schema`, `const`...) is a field proto-JSON cannot find, and the API answers 400 INVALID_ARGUMENT with one line
per unknown name, `Invalid JSON payload received. Unknown name "additionalProperties" at
'generation_config.response_schema.properties[1].value': Cannot find field.`, and a `google.rpc.BadRequest`
detail with the same lines as field violations. `responseJsonSchema` / `parametersJsonSchema` take JSON Schema
and are not checked here (the fake samples them, `$ref`s included: fakeprovider/features.py).
"""

from __future__ import annotations

from typing import Any

# Every field of google.ai.generativelanguage.v1beta.Schema, in both proto-JSON spellings.
_SCHEMA_FIELDS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "max_items",
        "minItems",
        "min_items",
        "properties",
        "required",
        "minProperties",
        "min_properties",
        "maxProperties",
        "max_properties",
        "minLength",
        "min_length",
        "maxLength",
        "max_length",
        "pattern",
        "example",
        "anyOf",
        "any_of",
        "propertyOrdering",
        "property_ordering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
# One bad schema could name thousands of keys; the real API's message is long too, but bounded here.
VIOLATIONS_MAX = 64
# Sub-schemas deeper than this are not looked into (the request may nest far deeper than Python recurses).
DEPTH_MAX = 64


def _get(body: dict[str, Any], camel: str, snake: str) -> Any:
    return body.get(camel, body.get(snake))


def unknown_names(schema: Any, at: str, found: list[tuple[str, str]], depth: int = 0) -> None:
    """Append (field path, description) for each name of `schema` (and its sub-schemas) Schema does not have."""
    if not isinstance(schema, dict) or len(found) >= VIOLATIONS_MAX or depth > DEPTH_MAX:
        return
    for name in schema:
        if name not in _SCHEMA_FIELDS:
            found.append(
                (at, f"Invalid JSON payload received. Unknown name {_quoted(name)} at '{at}': Cannot find field.")
            )
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for index, sub in enumerate(properties.values()):
            unknown_names(sub, f"{at}.properties[{index}].value", found, depth + 1)
    unknown_names(schema.get("items"), f"{at}.items", found, depth + 1)
    alternatives = _get(schema, "anyOf", "any_of")
    if isinstance(alternatives, list):
        for index, sub in enumerate(alternatives):
            unknown_names(sub, f"{at}.any_of[{index}]", found, depth + 1)


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def violations(body: dict[str, Any], config: dict[str, Any]) -> list[tuple[str, str]]:
    """Unknown names in the request's `responseSchema` and in every function declaration's `parameters`."""
    found: list[tuple[str, str]] = []
    unknown_names(_get(config, "responseSchema", "response_schema"), "generation_config.response_schema", found)
    tools = body.get("tools")
    for tool_index, tool in enumerate(tools if isinstance(tools, list) else ()):
        declarations = _get(tool, "functionDeclarations", "function_declarations") if isinstance(tool, dict) else None
        for index, declaration in enumerate(declarations if isinstance(declarations, list) else ()):
            if isinstance(declaration, dict):
                at = f"tools[{tool_index}].function_declarations[{index}].parameters"
                unknown_names(declaration.get("parameters"), at, found)
    return found[:VIOLATIONS_MAX]


def error_body(found: list[tuple[str, str]]) -> dict[str, Any]:
    """Gemini's 400 for unknown schema names: the lines joined, and each one as a field violation."""
    return {
        "error": {
            "code": 400,
            "message": "\n".join(description for _, description in found),
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": BAD_REQUEST,
                    "fieldViolations": [{"field": field, "description": description} for field, description in found],
                }
            ],
        }
    }
