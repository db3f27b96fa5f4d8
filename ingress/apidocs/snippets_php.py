"""PHP snippets (PHP 8.1+): Laravel's `Http` client, and plain `curl`."""

from __future__ import annotations

import json
import re
from typing import Any

from ingress.apidocs.snippet_call import UPLOAD_FILENAME, Call, indented
from ingress.apidocs.walkthrough import POLL_INTERVAL_S, POLL_TRIES_MAX


def _value(value: Any, depth: int = 1) -> str:
    pad, inner = "    " * (depth - 1), "    " * depth
    if isinstance(value, dict):
        items = [f"{inner}{_string(key)} => {_value(item, depth + 1)}," for key, item in value.items()]
        return "[\n" + "\n".join(items) + f"\n{pad}]" if items else "[]"
    if isinstance(value, list):
        items = [f"{inner}{_value(item, depth + 1)}," for item in value]
        return "[\n" + "\n".join(items) + f"\n{pad}]" if items else "[]"
    if isinstance(value, str):
        found = re.fullmatch(r"@@ENV:([A-Z_]+)@@", value)
        return f"getenv('{found.group(1)}')" if found else _string(value)
    return json.dumps(value)


def _string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _url(call: Call) -> str:
    path = call.path
    for name, env in call.path_env.items():
        path = path.replace(f"{{{name}}}", f"' . getenv('{env}') . '")
    return f"getenv('LUNTREX_BASE_URL') . '{path}'".replace(" . ''", "")


def _file(call: Call) -> list[str]:
    """`$jsonl`, the batch file to upload, built from its lines."""
    if call.upload_fields is None:
        return []
    return [
        "// The batch file: one request a line.",
        f"$lines = {_value(list(call.upload_lines))};",
        "$jsonl = implode('', array_map(fn ($line) => json_encode($line) . \"\\n\", $lines));",
    ]


def _printed_lines(text: str) -> list[str]:
    """Print each JSON line of `text` as read, parsed and re-encoded."""
    return [
        f'foreach (explode("\\n", {text}) as $line) {{',
        "    if (trim($line) !== '') {",
        "        echo json_encode(json_decode($line, false, 512, JSON_THROW_ON_ERROR)), PHP_EOL;",
        "    }",
        "}",
    ]


def _polled(call: Call, request: list[str], reached: str) -> list[str]:
    """`request` repeated until `reached` (a PHP expression of its answer) says the batch finished."""
    assert call.until is not None
    values = ", ".join(_string(value) for value in call.until[1])
    return [
        f"for ($attempt = 0; $attempt < {POLL_TRIES_MAX}; $attempt++) {{",
        *indented(request),
        f"    if (in_array({reached}, [{values}], true)) {{",
        "        break;",
        "    }",
        f"    usleep({int(POLL_INTERVAL_S * 1_000_000)});",
        "}",
    ]


def _field(answer: str, call: Call) -> str:
    assert call.until is not None
    return answer + "".join(f"[{_string(part)}]" for part in call.until[0].split("."))


def php_laravel(call: Call) -> str:
    lines = ["<?php", f"// {call.summary}", "use Illuminate\\Support\\Facades\\Http;", "", *_file(call)]
    chain = f"Http::withToken(getenv('{call.key_env}'))"
    if call.headers:
        chain += "->withHeaders(" + _value(call.headers) + ")"
    arguments = _url(call)
    if call.body is not None:
        arguments += ", " + _value(call.body)
    if call.upload_fields is not None:
        chain += (
            f"->attach('{call.upload_file_field}', $jsonl, '{UPLOAD_FILENAME}', "
            "['Content-Type' => 'application/jsonl'])"
        )
        arguments += ", " + _value(call.upload_fields)
    request = [f"$response = {chain}->timeout(120)->{call.method.lower()}({arguments});", "$response->throw();"]
    if call.until is not None:
        lines += _polled(call, request, _field("$response->json()", call))
    else:
        lines += request
    lines += _printed_lines("$response->body()") if call.json_lines else ["echo $response->body(), PHP_EOL;"]
    return "\n".join(lines) + "\n"


def php_curl(call: Call) -> str:
    headers = [f"'Authorization: Bearer ' . getenv('{call.key_env}')"] + [
        _string(f"{name}: {value}") for name, value in call.headers.items()
    ]
    lines = ["<?php", f"// {call.summary}", *_file(call)]
    request = [f"$curl = curl_init({_url(call)});"]
    if call.body is not None:
        headers.append("'Content-Type: application/json'")
        request.append(f"$body = {_value(call.body)};")
        request.append("curl_setopt($curl, CURLOPT_POSTFIELDS, json_encode($body));")
    if call.upload_fields is not None:
        # An array body is sent as multipart/form-data; the file part from memory (CURLStringFile, PHP 8.1).
        fields = dict(call.upload_fields)
        parts = ", ".join(f"{_string(k)} => {_string(v)}" for k, v in fields.items())
        request.append(
            f"curl_setopt($curl, CURLOPT_POSTFIELDS, [{parts}, '{call.upload_file_field}' => "
            f"new CURLStringFile($jsonl, '{UPLOAD_FILENAME}', 'application/jsonl')]);"
        )
    request += [
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
    ]
    if call.until is not None:
        lines += _polled(call, request, _field("json_decode($answer, true)", call))
    else:
        lines += request
    if call.json_lines:
        lines += _printed_lines("$answer")
    else:
        lines.append("echo $status === 204 ? $status : $answer, PHP_EOL;")
    return "\n".join(lines) + "\n"
