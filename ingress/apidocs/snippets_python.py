"""Python snippets: `requests`, and the official `openai` package (its own methods on the OpenAI surface, its
generic `client.get/post/...` elsewhere)."""

from __future__ import annotations

import json
import re
from typing import Any

from ingress.apidocs.snippet_call import ENV_MARKER, UPLOAD_FILENAME, Call, indented
from ingress.apidocs.walkthrough import POLL_INTERVAL_S, POLL_TRIES_MAX


def _literal(value: Any) -> str:
    text = json.dumps(value, indent=4)
    text = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", re.sub(r"\bnull\b", "None", text)))
    return ENV_MARKER.sub(lambda match: f'os.environ["{match.group(1)}"]', text)


def _path(call: Call) -> str:
    path = call.path
    for name, env in call.path_env.items():
        path = path.replace(f"{{{name}}}", f"{{os.environ['{env}']}}")
    return f'f"{path}"' if call.path_env else f'"{path}"'


def _env(call: Call, parameter: str) -> str:
    return f'os.environ["{call.path_env[parameter]}"]'


def _header(call: Call, extra: list[str]) -> list[str]:
    """The docstring and imports; `LINES`, the file to upload, when the call uploads one."""
    lines = [f'"""{call.summary}"""', "import json", "import os"]
    if call.until is not None:
        lines.append("import time")
    lines += ["", *extra, ""]
    if call.upload_fields is not None:
        lines += ["# The batch file: one request a line.", f"LINES = {_literal(list(call.upload_lines))}"]
        lines.append('JSONL = "".join(json.dumps(line) + "\\n" for line in LINES)')
    return lines


def _polled(call: Call, request: list[str], answer: str) -> list[str]:
    """`request` (which sets `answer`) repeated until the answer says the batch finished."""
    assert call.until is not None
    field, values = call.until
    reached = answer + "".join(f'["{part}"]' for part in field.split("."))
    return [
        f"for attempt in range({POLL_TRIES_MAX}):",
        *indented(request),
        f"    if {reached} in {tuple(values)!r}:",
        "        break",
        f"    time.sleep({POLL_INTERVAL_S})",
    ]


def _printed_lines(text: str) -> list[str]:
    """Print each JSON line of `text` (an iterable of lines) as read, parsed and re-encoded."""
    return [f"for line in {text}:", "    if line.strip():", "        print(json.dumps(json.loads(line)))"]


def python_requests(call: Call) -> str:
    lines = _header(call, ["import requests"])
    headers = {"Authorization": f'"Bearer " + os.environ["{call.key_env}"]'} | {
        name: json.dumps(value) for name, value in call.headers.items()
    }
    request = ["response = requests.request(", f'    "{call.method}",']
    request.append(f'    os.environ["LUNTREX_BASE_URL"] + {_path(call)},')
    request.append("    headers={" + ", ".join(f'"{k}": {v}' for k, v in headers.items()) + "},")
    if call.body is not None:
        request.append("    json=" + _literal(call.body).replace("\n", "\n    ") + ",")
    if call.upload_fields is not None:
        request.append(f"    data={json.dumps(call.upload_fields)},")
        request.append(
            f'    files={{"{call.upload_file_field}": ("{UPLOAD_FILENAME}", JSONL.encode(), "application/jsonl")}},'
        )
    if call.json_lines:
        request.append("    stream=True,  # JSON lines: read each line as it arrives")
    request += ["    timeout=120,", ")", "response.raise_for_status()"]
    if call.until is not None:
        request = _polled(call, request, "response.json()")
    lines += request
    if call.json_lines:
        lines += _printed_lines("response.iter_lines(decode_unicode=True)")
    else:
        lines.append("print(response.status_code)" if call.no_content else "print(json.dumps(response.json()))")
    return "\n".join(lines) + "\n"


def _sdk_method(call: Call) -> str | None:
    """The `openai` package's own method for an operation of the OpenAI surface, or None."""
    if call.operation == "POST /openai/chat/completions":
        return "client.chat.completions.create(" + _keywords(call.body) + ")"
    if call.operation == "POST /openai/batches":
        return "client.batches.create(" + _keywords(call.body) + ")"
    if call.operation == "POST /openai/files":
        fields = ", ".join(f"{name}={json.dumps(value)}" for name, value in (call.upload_fields or {}).items())
        return (
            f'client.files.create({call.upload_file_field}=("{UPLOAD_FILENAME}", JSONL.encode(), '
            f'"application/jsonl"), {fields})'
        )
    methods = {
        "GET /openai/models": "client.models.list()",
        "GET /openai/models/{model_id}": "client.models.retrieve({model_id})",
        "GET /openai/files": "client.files.list()",
        "GET /openai/files/{file_id}": "client.files.retrieve({file_id})",
        "DELETE /openai/files/{file_id}": "client.files.delete({file_id})",
        "GET /openai/files/{file_id}/content": "client.files.content({file_id})",
        "GET /openai/batches": "client.batches.list()",
        "GET /openai/batches/{batch_id}": "client.batches.retrieve({batch_id})",
        "POST /openai/batches/{batch_id}/cancel": "client.batches.cancel({batch_id})",
    }
    method = methods.get(call.operation)
    return method.format(**{name: _env(call, name) for name in call.path_env}) if method else None


def _keywords(body: dict[str, Any]) -> str:
    return ", ".join(f"{key}={_literal(value)}" for key, value in body.items())


def python_openai(call: Call) -> str:
    sdk = _sdk_method(call)
    raw = sdk is None and call.json_lines
    lines = _header(call, ["import httpx", "from openai import OpenAI"] if raw else ["from openai import OpenAI"])
    if sdk is not None:
        lines.append(
            'client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"] + "/openai", '
            f'api_key=os.environ["{call.key_env}"])'
        )
        lines.append(f"answer = {sdk}")
        if call.json_lines:
            lines += _printed_lines("answer.iter_lines()")
        else:
            lines.append("print(answer.model_dump_json())")
        return "\n".join(lines) + "\n"
    lines.append(f'client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["{call.key_env}"])')
    arguments = [_path(call)]
    if call.body is not None:
        arguments.append("body=" + _literal(call.body))
    if call.headers:
        arguments.append("options={" + f'"headers": {json.dumps(call.headers)}' + "}")
    if call.no_content:
        lines.append(f"client.{call.method.lower()}({', '.join(arguments)}, cast_to=type(None))")
        lines.append('print("done")')
    elif call.json_lines:
        # The raw answer (the package parses only JSON), read line by line.
        lines.append(f"answer = client.{call.method.lower()}({', '.join(arguments)}, cast_to=httpx.Response)")
        lines += _printed_lines("answer.iter_lines()")
    else:
        request = [f"answer = client.{call.method.lower()}({', '.join(arguments)}, cast_to=object)"]
        lines += _polled(call, request, "answer") if call.until is not None else request
        lines.append("print(json.dumps(answer))")
    return "\n".join(lines) + "\n"
