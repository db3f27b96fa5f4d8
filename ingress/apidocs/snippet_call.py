"""What one snippet sends and reads, in language-neutral terms, and the literal helpers every flavour shares.

A `Call` is one step of the walk (`walkthrough`): method, path with `{param}` placeholders and the environment
variable of each, the JSON body (with `@@ENV:NAME@@` markers where a value comes from the environment), fresh
headers, and the three shapes beyond plain JSON: an upload (multipart text fields plus a small JSONL file, given
as its lines), an answer in JSON lines, and `until` (repeat the call until the batch finished).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ingress.apidocs import walkthrough

API_PREFIX = "/api/v1"
ENV_MARKER = re.compile(r'"@@ENV:([A-Z_]+)@@"')
# The name the snippets give the JSONL file they upload.
UPLOAD_FILENAME = "batch.jsonl"


@dataclass(frozen=True)
class Call:
    slug: str
    method: str
    path: str  # below the base URL, with `{param}` placeholders
    summary: str
    key_env: str
    path_env: dict[str, str]
    body: Any
    headers: dict[str, str]
    no_content: bool
    # A multipart body: its text fields, and the file part's field and lines (each a JSON value).
    upload_fields: dict[str, str] | None = None
    upload_file_field: str = "file"
    upload_lines: tuple[Any, ...] = ()
    json_lines: bool = False
    until: tuple[str, tuple[str, ...]] | None = None

    @property
    def operation(self) -> str:
        """`GET /openai/files/{file_id}`: the method and the path below the base URL."""
        return f"{self.method} {self.path}"


def slug_of(operation: str) -> str:
    method, path = operation.split(" ", 1)
    words = re.sub(r"[^a-z0-9]+", "_", path.removeprefix(API_PREFIX).lower()).strip("_")
    return f"{method.lower()}_{words}"


def call_of(openapi: dict[str, Any], step: walkthrough.Step) -> Call:
    method, path = step.operation.split(" ", 1)
    operation = walkthrough.operation_of(openapi, step.operation)
    body = walkthrough.body_example(operation)
    if isinstance(body, dict):
        body = body | {
            name: f"@@ENV:{walkthrough.env_name(variable)}@@" for name, variable in step.body_variables.items()
        }
    declared = {str(p.get("name") or p.get("$ref", "").rsplit("/", 1)[-1]) for p in operation.get("parameters", [])}
    headers = {name: f"example-{slug_of(step.operation)}" for name in walkthrough.FRESH_HEADERS if name in declared}
    upload = walkthrough.upload_of(operation)
    return Call(
        slug=slug_of(step.operation),
        method=method,
        path=path.removeprefix(API_PREFIX),
        summary=f"{operation.get('summary', '')} ({step.operation})",
        key_env="LUNTREX_ADMIN_KEY" if walkthrough.is_admin(operation) else "LUNTREX_API_KEY",
        path_env={
            name: walkthrough.env_name(walkthrough.variable_of(name)) for name in walkthrough.path_parameters(path)
        },
        body=body,
        headers=headers,
        no_content=walkthrough.success_status(operation) == 204,
        upload_fields=upload.fields if upload is not None else None,
        upload_file_field=upload.file_field if upload is not None else "file",
        upload_lines=tuple(json.loads(line) for line in upload.file_text.splitlines() if line.strip())
        if upload is not None
        else (),
        json_lines=walkthrough.answers_json_lines(operation),
        until=step.until,
    )


def json_literal(value: Any, env: Callable[[str], str], indent: int | None = 4) -> str:
    """A JSON literal (valid Python, JavaScript and PHP-json text) with `@@ENV` markers made into reads."""
    text = json.dumps(value, indent=indent)
    return ENV_MARKER.sub(lambda match: env(match.group(1)), text)


def indented(lines: list[str], depth: int = 1, unit: str = "    ") -> list[str]:
    return [unit * depth + line if line else line for line in lines]
