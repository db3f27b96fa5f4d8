"""Writes the API's OpenAPI document and a Postman collection from the app itself: `python -m ingress.apidocs`.

Both are generated from the routes the server really has, and a test fails when the committed copies drift.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ingress.app import create_app
from ingress.settings import IngressSettings

DOCS = Path(__file__).resolve().parent.parent / "docs"
OPENAPI_PATH = DOCS / "openapi.json"
POSTMAN_PATH = DOCS / "luntrex.postman_collection.json"

SEED_BODY = {
    "model": "openai/gpt-4.1-mini",
    "messages": [{"role": "user", "content": "Write a short rhyming poem about the ocean."}],
    "max_tokens": 512,
}


def openapi_document() -> dict[str, Any]:
    return create_app(IngressSettings()).openapi()


def postman_collection(openapi: dict[str, Any]) -> dict[str, Any]:
    """A Postman v2.1 collection with one request per operation, using `{{baseUrl}}` and `{{apiKey}}`."""
    items = []
    for path, operations in sorted(openapi["paths"].items()):
        for method, operation in sorted(operations.items()):
            request: dict[str, Any] = {
                "method": method.upper(),
                "header": [{"key": "Content-Type", "value": "application/json"}],
                "url": {
                    "raw": "{{baseUrl}}" + path.removeprefix("/api/v1"),
                    "host": ["{{baseUrl}}"],
                    "path": [part for part in path.removeprefix("/api/v1").split("/") if part],
                },
            }
            if path.startswith("/api/v1/admin/"):
                # The admin API takes the operator's credential, never a workspace key.
                request["auth"] = {
                    "type": "bearer",
                    "bearer": [{"key": "token", "value": "{{adminKey}}", "type": "string"}],
                }
            if method == "post" and path.endswith("/chat/completions"):
                request["body"] = {"mode": "raw", "raw": json.dumps(SEED_BODY, indent=2)}
            items.append({"name": operation.get("summary", f"{method.upper()} {path}"), "request": request})
    return {
        "info": {
            "name": "Luntrex Router API",
            "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
        },
        "auth": {"type": "bearer", "bearer": [{"key": "token", "value": "{{apiKey}}", "type": "string"}]},
        "variable": [
            {"key": "baseUrl", "value": "http://127.0.0.1:8080/api/v1"},
            {"key": "apiKey", "value": "<YOUR_API_KEY>"},
            {"key": "adminKey", "value": "<LUNTREX_ADMIN_KEY>"},
        ],
        "item": items,
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args()
    openapi = openapi_document()
    DOCS.mkdir(exist_ok=True)
    OPENAPI_PATH.write_text(render(openapi), encoding="utf-8")
    POSTMAN_PATH.write_text(render(postman_collection(openapi)), encoding="utf-8")
    print(f"wrote {OPENAPI_PATH} and {POSTMAN_PATH}")


if __name__ == "__main__":
    main()
