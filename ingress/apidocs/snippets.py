"""Code snippets for every operation, generated from the OpenAPI document into `docs/snippets/<operation>/`.

Flavours: Python (`requests`, `openai`), JavaScript (`fetch`, the `openai` npm package), PHP (Laravel's
`Http`, plain `curl`) and cURL. Each reads the base URL, the key and any id from the environment
(`LUNTREX_BASE_URL`, `LUNTREX_API_KEY` or `LUNTREX_ADMIN_KEY` on the admin API, `LUNTREX_JOB_ID`, ...),
sends the documented example, fails on an error status and prints the JSON answer, so a test can run it.
On the OpenAI-compatible surface the `openai` flavours use the SDK's own methods; elsewhere its generic
`get`/`post`/... (same key, same client, any path).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ingress.apidocs import walkthrough

API_PREFIX = "/api/v1"
OPENAI_PREFIX = "/api/v1/openai"
_ENV = re.compile(r'"@@ENV:([A-Z_]+)@@"')


@dataclass(frozen=True)
class Call:
    """What a snippet sends, in language-neutral terms."""

    slug: str
    method: str
    path: str  # below the base URL, with `{param}` placeholders
    summary: str
    key_env: str
    path_env: dict[str, str]
    body: Any
    headers: dict[str, str]
    no_content: bool


@dataclass(frozen=True)
class Flavour:
    name: str
    filename: str
    render: Callable[[Call], str]


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
    )


def _json(value: Any, env: Callable[[str], str], indent: int = 4) -> str:
    """A JSON literal (valid Python, JavaScript and PHP-json text) with `@@ENV` markers made into reads."""
    text = json.dumps(value, indent=indent)
    return _ENV.sub(lambda match: env(match.group(1)), text)


def _python_literal(value: Any) -> str:
    text = json.dumps(value, indent=4)
    text = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", re.sub(r"\bnull\b", "None", text)))
    return _ENV.sub(lambda match: f'os.environ["{match.group(1)}"]', text)


def _python_path(call: Call) -> str:
    path = call.path
    for name, env in call.path_env.items():
        path = path.replace(f"{{{name}}}", f"{{os.environ['{env}']}}")
    return f'f"{path}"' if call.path_env else f'"{path}"'


def python_requests(call: Call) -> str:
    lines = [f'"""{call.summary}"""', "import json", "import os", "", "import requests", ""]
    headers = {"Authorization": f'"Bearer " + os.environ["{call.key_env}"]'} | {
        name: json.dumps(value) for name, value in call.headers.items()
    }
    lines.append("response = requests.request(")
    lines.append(f'    "{call.method}",')
    lines.append(f'    os.environ["LUNTREX_BASE_URL"] + {_python_path(call)},')
    lines.append("    headers={" + ", ".join(f'"{k}": {v}' for k, v in headers.items()) + "},")
    if call.body is not None:
        lines.append("    json=" + _python_literal(call.body).replace("\n", "\n    ") + ",")
    lines += ["    timeout=120,", ")", "response.raise_for_status()"]
    lines.append("print(response.status_code)" if call.no_content else "print(json.dumps(response.json()))")
    return "\n".join(lines) + "\n"


def python_openai(call: Call) -> str:
    lines = [f'"""{call.summary}"""', "import json", "import os", "", "from openai import OpenAI", ""]
    if call.path.startswith("/openai/") and call.path in ("/openai/chat/completions", "/openai/models"):
        lines.append(
            'client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"] + "/openai", '
            f'api_key=os.environ["{call.key_env}"])'
        )
        if call.path == "/openai/models":
            lines.append("answer = client.models.list()")
        else:
            keywords = ", ".join(f"{key}={_python_literal(value)}" for key, value in call.body.items())
            lines.append(f"answer = client.chat.completions.create({keywords})")
        lines.append("print(answer.model_dump_json())")
        return "\n".join(lines) + "\n"
    lines.append(f'client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["{call.key_env}"])')
    arguments = [_python_path(call)]
    if call.body is not None:
        arguments.append("body=" + _python_literal(call.body))
    if call.headers:
        arguments.append("options={" + f'"headers": {json.dumps(call.headers)}' + "}")
    if call.no_content:
        lines.append(f"client.{call.method.lower()}({', '.join(arguments)}, cast_to=type(None))")
        lines.append('print("done")')
    else:
        lines.append(f"answer = client.{call.method.lower()}({', '.join(arguments)}, cast_to=object)")
        lines.append("print(json.dumps(answer))")
    return "\n".join(lines) + "\n"


def _js_path(call: Call) -> str:
    path = call.path
    for name, env in call.path_env.items():
        path = path.replace(f"{{{name}}}", f"${{process.env.{env}}}")
    return f"`{path}`"


def js_fetch(call: Call) -> str:
    headers = {"Authorization": f"`Bearer ${{process.env.{call.key_env}}}`"} | {
        name: json.dumps(value) for name, value in call.headers.items()
    }
    if call.body is not None:
        headers["Content-Type"] = '"application/json"'
    lines = [f"// {call.summary}", f"const response = await fetch(process.env.LUNTREX_BASE_URL + {_js_path(call)}, {{"]
    lines.append(f'  method: "{call.method}",')
    lines.append("  headers: { " + ", ".join(f'"{k}": {v}' for k, v in headers.items()) + " },")
    if call.body is not None:
        body = _json(call.body, lambda env: f"process.env.{env}", indent=2).replace("\n", "\n  ")
        lines.append(f"  body: JSON.stringify({body}),")
    lines += [
        "});",
        "if (!response.ok) {",
        "  throw new Error(`${response.status}: ${await response.text()}`);",
        "}",
        "console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));",
    ]
    return "\n".join(lines) + "\n"


def js_openai(call: Call) -> str:
    lines = [f"// {call.summary}", 'import OpenAI from "openai";', ""]
    if call.path in ("/openai/chat/completions", "/openai/models"):
        lines.append(
            'const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL + "/openai", '
            f"apiKey: process.env.{call.key_env} }});"
        )
        if call.path == "/openai/models":
            lines += ["const page = await client.models.list();", "console.log(JSON.stringify(page.data));"]
        else:
            body = _json(call.body, lambda env: f"process.env.{env}", indent=2)
            lines += [
                f"const answer = await client.chat.completions.create({body});",
                "console.log(JSON.stringify(answer));",
            ]
        return "\n".join(lines) + "\n"
    lines.append(
        f"const client = new OpenAI({{ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.{call.key_env} }});"
    )
    options = []
    if call.body is not None:
        options.append("body: " + _json(call.body, lambda env: f"process.env.{env}", indent=2))
    if call.headers:
        options.append(f"headers: {json.dumps(call.headers)}")
    arguments = _js_path(call) + (", { " + ", ".join(options) + " }" if options else "")
    lines.append(f"const answer = await client.{call.method.lower()}({arguments});")
    lines.append('console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));')
    return "\n".join(lines) + "\n"


def _php_value(value: Any, depth: int = 1) -> str:
    pad, inner = "    " * (depth - 1), "    " * depth
    if isinstance(value, dict):
        items = [f"{inner}{_php_string(key)} => {_php_value(item, depth + 1)}," for key, item in value.items()]
        return "[\n" + "\n".join(items) + f"\n{pad}]" if items else "[]"
    if isinstance(value, list):
        items = [f"{inner}{_php_value(item, depth + 1)}," for item in value]
        return "[\n" + "\n".join(items) + f"\n{pad}]" if items else "[]"
    if isinstance(value, str):
        found = re.fullmatch(r"@@ENV:([A-Z_]+)@@", value)
        return f"getenv('{found.group(1)}')" if found else _php_string(value)
    return json.dumps(value)


def _php_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _php_url(call: Call) -> str:
    path = call.path
    for name, env in call.path_env.items():
        path = path.replace(f"{{{name}}}", f"' . getenv('{env}') . '")
    return f"getenv('LUNTREX_BASE_URL') . '{path}'".replace(" . ''", "")


def php_laravel(call: Call) -> str:
    lines = ["<?php", f"// {call.summary}", "use Illuminate\\Support\\Facades\\Http;", ""]
    chain = f"Http::withToken(getenv('{call.key_env}'))"
    if call.headers:
        chain += "->withHeaders(" + _php_value(call.headers) + ")"
    arguments = _php_url(call) + (", " + _php_value(call.body) if call.body is not None else "")
    lines.append(f"$response = {chain}->timeout(120)->{call.method.lower()}({arguments});")
    lines += ["$response->throw();", "echo $response->body(), PHP_EOL;"]
    return "\n".join(lines) + "\n"


def php_curl(call: Call) -> str:
    headers = [f"'Authorization: Bearer ' . getenv('{call.key_env}')"] + [
        _php_string(f"{name}: {value}") for name, value in call.headers.items()
    ]
    lines = ["<?php", f"// {call.summary}", f"$curl = curl_init({_php_url(call)});"]
    if call.body is not None:
        headers.append("'Content-Type: application/json'")
        lines.append(f"$body = {_php_value(call.body)};")
        lines.append("curl_setopt($curl, CURLOPT_POSTFIELDS, json_encode($body));")
    lines += [
        "curl_setopt_array($curl, [",
        f"    CURLOPT_CUSTOMREQUEST => '{call.method}',",
        "    CURLOPT_RETURNTRANSFER => true,",
        "    CURLOPT_TIMEOUT => 120,",
        "    CURLOPT_HTTPHEADER => [" + ", ".join(headers) + "],",
        "]);",
        "$answer = curl_exec($curl);",
        "$status = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);",
        "if ($answer === false || $status >= 400) {",
        '    fwrite(STDERR, "$status: $answer\\n");',
        "    exit(1);",
        "}",
        "echo $status === 204 ? $status : $answer, PHP_EOL;",
    ]
    return "\n".join(lines) + "\n"


def curl(call: Call) -> str:
    url = "$LUNTREX_BASE_URL" + call.path
    for name, env in call.path_env.items():
        url = url.replace(f"{{{name}}}", f"${env}")
    lines = [
        "#!/bin/sh",
        f"# {call.summary}",
        f'curl --fail-with-body -sS -X {call.method} "{url}" \\',
        f'  -H "Authorization: Bearer ${call.key_env}"',
    ]
    for name, value in call.headers.items():
        lines[-1] += " \\"
        lines.append(f'  -H "{name}: {value}"')
    if call.body is not None:
        body = json.dumps(call.body).replace("'", "'\\''")
        body = re.sub(r'"@@ENV:([A-Z_]+)@@"', lambda match: f'"\'"${match.group(1)}"\'"', body)
        lines[-1] += " \\"
        lines += ['  -H "Content-Type: application/json" \\', f"  -d '{body}'"]
    return "\n".join(lines) + "\n"


FLAVOURS = (
    Flavour("python-requests", "python_requests.py", python_requests),
    Flavour("python-openai", "python_openai.py", python_openai),
    Flavour("javascript-fetch", "javascript_fetch.mjs", js_fetch),
    Flavour("javascript-openai", "javascript_openai.mjs", js_openai),
    Flavour("php-laravel", "php_laravel.php", php_laravel),
    Flavour("php-curl", "php_curl.php", php_curl),
    Flavour("curl", "curl.sh", curl),
)


def snippets(openapi: dict[str, Any]) -> dict[str, str]:
    """Every snippet, by its path below `docs/snippets/` (`post_chat_completions/curl.sh`)."""
    files = {}
    for step in walkthrough.walk(openapi):
        call = call_of(openapi, step)
        for flavour in FLAVOURS:
            files[f"{call.slug}/{flavour.filename}"] = flavour.render(call)
    return files
