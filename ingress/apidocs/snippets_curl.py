"""cURL snippets (POSIX shell): one `curl` call, its JSON body inline, an uploaded file piped from `printf`."""

from __future__ import annotations

import json
import re

from ingress.apidocs.snippet_call import UPLOAD_FILENAME, Call, indented
from ingress.apidocs.walkthrough import POLL_INTERVAL_S, POLL_TRIES_MAX


def _quoted(text: str) -> str:
    """`text` in single quotes, for sh."""
    return "'" + text.replace("'", "'\\''") + "'"


def _command(call: Call) -> list[str]:
    url = "$LUNTREX_BASE_URL" + call.path
    for name, env in call.path_env.items():
        url = url.replace(f"{{{name}}}", f"${env}")
    lines = [
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
    if call.upload_fields is not None:
        for name, value in call.upload_fields.items():
            lines[-1] += " \\"
            lines.append(f"  -F {_quoted(f'{name}={value}')}")
        lines[-1] += " \\"
        # `@-`: the file part is read from standard input (the printf above).
        lines.append(f'  -F "{call.upload_file_field}=@-;filename={UPLOAD_FILENAME};type=application/jsonl"')
        printed = " ".join(_quoted(json.dumps(line)) for line in call.upload_lines)
        lines[0] = f"printf '%s\\n' {printed} | \\\n" + lines[0]
    return lines


def curl(call: Call) -> str:
    lines = ["#!/bin/sh", f"# {call.summary}"]
    if call.upload_fields is not None:
        lines.append("# The batch file, one request a line, is piped in.")
    if call.json_lines:
        lines.append("# The answer is JSON lines: one JSON object a line.")
    command = _command(call)
    if call.until is None:
        return "\n".join(lines + command) + "\n"
    field, values = call.until
    patterns = "|".join(f'*\'"{field}":"{value}"\'*' for value in values)
    command[0] = "answer=$(" + command[0]
    command[-1] += ') || { echo "$answer" >&2; exit 1; }'
    lines += [
        f"# Asked again every {POLL_INTERVAL_S} s until {field} is one of {', '.join(values)}.",
        f"attempt=0; while [ $attempt -lt {POLL_TRIES_MAX} ]; do",
        *indented(command, unit="  "),
        f'  case "$answer" in {patterns}) break ;; esac',
        f"  attempt=$((attempt + 1)); sleep {POLL_INTERVAL_S}",
        "done",
        'echo "$answer"',
    ]
    return "\n".join(lines) + "\n"
