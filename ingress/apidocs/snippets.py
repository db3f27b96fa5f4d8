"""Code snippets for every operation, generated from the OpenAPI document into `docs/snippets/<operation>/`.

Flavours: Python (`requests`, `openai`: `snippets_python`), JavaScript (`fetch`, the `openai` npm package:
`snippets_javascript`), PHP (Laravel's `Http`, plain `curl`: `snippets_php`) and cURL (`snippets_curl`). Each
reads the base URL, the key and any id from the environment (`LUNTREX_BASE_URL`, `LUNTREX_API_KEY` or
`LUNTREX_ADMIN_KEY` on the admin API, `LUNTREX_JOB_ID`, ...), sends the documented example, fails on an error
status and prints the JSON answer (a JSON-lines answer: each line, as read), so a test can run it. An upload
sends a small JSONL file built in the snippet; a step the walk repeats (`until`) loops until the batch finished.
On the OpenAI-compatible surface the `openai` flavours use the SDK's own methods (`chat.completions`, `models`,
`files`, `batches`); elsewhere its generic `get`/`post`/... (same key, same client, any path).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ingress.apidocs import walkthrough
from ingress.apidocs.snippet_call import Call, call_of, slug_of
from ingress.apidocs.snippets_curl import curl
from ingress.apidocs.snippets_javascript import js_fetch, js_openai
from ingress.apidocs.snippets_php import php_curl, php_laravel
from ingress.apidocs.snippets_python import python_openai, python_requests

__all__ = ["FLAVOURS", "Call", "Flavour", "call_of", "slug_of", "snippets"]


@dataclass(frozen=True)
class Flavour:
    name: str
    filename: str
    render: Callable[[Call], str]


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
