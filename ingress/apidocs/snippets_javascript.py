"""JavaScript snippets (ES modules, Node 18+): `fetch`, and the `openai` npm package (its own methods on the OpenAI
surface, its generic `client.get/post/...` elsewhere)."""

from __future__ import annotations

import json

from ingress.apidocs.snippet_call import UPLOAD_FILENAME, Call, indented, json_literal
from ingress.apidocs.walkthrough import POLL_INTERVAL_S, POLL_TRIES_MAX


def _env(name: str) -> str:
    return f"process.env.{name}"


def _literal(value: object, indent: int = 2) -> str:
    return json_literal(value, _env, indent=indent)


def _path(call: Call) -> str:
    path = call.path
    for name, env in call.path_env.items():
        path = path.replace(f"{{{name}}}", f"${{process.env.{env}}}")
    return f"`{path}`"


def _file(call: Call) -> list[str]:
    """`JSONL`, the batch file to upload, built from its lines."""
    if call.upload_fields is None:
        return []
    return [
        "// The batch file: one request a line.",
        f"const LINES = {_literal(list(call.upload_lines))};",
        'const JSONL = LINES.map((line) => JSON.stringify(line) + "\\n").join("");',
    ]


def _polled(call: Call, request: list[str]) -> list[str]:
    """`request` (which sets `answer`) repeated until the answer says the batch finished."""
    assert call.until is not None
    field, values = call.until
    reached = "answer" + "".join(f'["{part}"]' for part in field.split("."))
    return [
        "let answer;",
        f"for (let attempt = 0; attempt < {POLL_TRIES_MAX}; attempt++) {{",
        *indented(request, unit="  "),
        f"  if ({json.dumps(list(values))}.includes({reached})) break;",
        f"  await new Promise((resolve) => setTimeout(resolve, {int(POLL_INTERVAL_S * 1000)}));",
        "}",
        "console.log(JSON.stringify(answer));",
    ]


def _printed_lines(text: str) -> list[str]:
    """Print each JSON line of `text` as read, parsed and re-encoded."""
    return [
        f'for (const line of {text}.split("\\n")) {{',
        "  if (line.trim()) console.log(JSON.stringify(JSON.parse(line)));",
        "}",
    ]


def js_fetch(call: Call) -> str:
    headers = {"Authorization": f"`Bearer ${{process.env.{call.key_env}}}`"} | {
        name: json.dumps(value) for name, value in call.headers.items()
    }
    if call.body is not None:
        headers["Content-Type"] = '"application/json"'
    lines = [f"// {call.summary}", *_file(call)]
    if call.upload_fields is not None:
        lines.append("const form = new FormData();")
        lines += [f"form.append({json.dumps(k)}, {json.dumps(v)});" for k, v in call.upload_fields.items()]
        lines.append(
            f'form.append("{call.upload_file_field}", new Blob([JSONL], {{ type: "application/jsonl" }}), '
            f'"{UPLOAD_FILENAME}");'
        )
    request = [f"const response = await fetch(process.env.LUNTREX_BASE_URL + {_path(call)}, {{"]
    request.append(f'  method: "{call.method}",')
    request.append("  headers: { " + ", ".join(f'"{k}": {v}' for k, v in headers.items()) + " },")
    if call.body is not None:
        request.append(f"  body: JSON.stringify({_literal(call.body).replace(chr(10), chr(10) + '  ')}),")
    if call.upload_fields is not None:
        request.append("  body: form,  // multipart/form-data, its boundary set by fetch")
    request += ["});", "if (!response.ok) {", "  throw new Error(`${response.status}: ${await response.text()}`);", "}"]
    if call.until is not None:
        lines += _polled(call, [*request, "answer = await response.json();"])
    elif call.json_lines:
        lines += [*request, *_printed_lines("(await response.text())")]
    else:
        lines += request
        lines.append("console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));")
    return "\n".join(lines) + "\n"


def _sdk_method(call: Call) -> str | None:
    """The `openai` package's own method for an operation of the OpenAI surface, or None."""
    if call.operation in ("POST /openai/chat/completions", "POST /openai/batches"):
        resource = "chat.completions" if "chat" in call.path else "batches"
        return f"client.{resource}.create({_literal(call.body)})"
    if call.operation == "POST /openai/files":
        fields = "".join(f", {k}: {json.dumps(v)}" for k, v in (call.upload_fields or {}).items())
        return (
            f"client.files.create({{ {call.upload_file_field}: await toFile(Buffer.from(JSONL), "
            f'"{UPLOAD_FILENAME}", {{ type: "application/jsonl" }}){fields} }})'
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
    return method.format(**{name: _env(env) for name, env in call.path_env.items()}) if method else None


def js_openai(call: Call) -> str:
    sdk = _sdk_method(call)
    imported = "OpenAI, { toFile }" if call.upload_fields is not None else "OpenAI"
    lines = [f"// {call.summary}", f'import {imported} from "openai";', "", *_file(call)]
    if sdk is not None:
        lines.append(
            'const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL + "/openai", '
            f"apiKey: process.env.{call.key_env} }});"
        )
        lines.append(f"const answer = await {sdk};")
        if call.json_lines:
            lines += _printed_lines("(await answer.text())")
        elif call.method == "GET" and not call.path_env:
            lines.append("console.log(JSON.stringify(answer.data));  // a page: its items")
        else:
            lines.append("console.log(JSON.stringify(answer));")
        return "\n".join(lines) + "\n"
    lines.append(
        f"const client = new OpenAI({{ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.{call.key_env} }});"
    )
    options = []
    if call.body is not None:
        options.append("body: " + _literal(call.body))
    if call.headers:
        options.append(f"headers: {json.dumps(call.headers)}")
    arguments = _path(call) + (", { " + ", ".join(options) + " }" if options else "")
    if call.until is not None:
        lines += _polled(call, [f"answer = await client.{call.method.lower()}({arguments});"])
    elif call.json_lines:
        # The raw answer (the package parses only JSON), read line by line.
        lines.append(f"const response = await client.{call.method.lower()}({arguments}).asResponse();")
        lines += _printed_lines("(await response.text())")
    else:
        lines.append(f"const answer = await client.{call.method.lower()}({arguments});")
        lines.append('console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));')
    return "\n".join(lines) + "\n"
