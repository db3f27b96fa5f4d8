"""The API's published documents, generated from the app itself: `python -m ingress.apidocs` writes them all.

- `docs/openapi.json`: the OpenAPI document (`ingress.openapi_document`);
- `docs/luntrex.postman_collection.json` and `docs/luntrex.postman_environment.json` (`postman`), and the files
  its upload steps send (`docs/luntrex.<operation>.jsonl`);
- `docs/snippets/<operation>/<flavour>`: code for every operation (`snippets`).
`python -m ingress.apidocs --check` fails, naming the files, when a committed copy differs; so does a test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ingress.apidocs import postman, snippets
from ingress.app import create_app
from ingress.settings import IngressSettings

DOCS = Path(__file__).resolve().parent.parent.parent / "docs"
OPENAPI_PATH = DOCS / "openapi.json"
POSTMAN_PATH = DOCS / "luntrex.postman_collection.json"
ENVIRONMENT_PATH = DOCS / "luntrex.postman_environment.json"
SNIPPETS_DIR = DOCS / "snippets"


def openapi_document() -> dict[str, Any]:
    return create_app(IngressSettings()).openapi()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def generated_files(openapi: dict[str, Any]) -> dict[Path, str]:
    """Every generated file and its content."""
    files = {
        OPENAPI_PATH: render(openapi),
        POSTMAN_PATH: render(postman.collection(openapi)),
        ENVIRONMENT_PATH: render(postman.environment()),
    }
    for name, text in postman.upload_files(openapi).items():
        files[DOCS / name] = text
    for relative, text in snippets.snippets(openapi).items():
        files[SNIPPETS_DIR / relative] = text
    return files


def drifted(files: dict[Path, str]) -> list[Path]:
    """Generated files whose committed copy differs or is missing, and committed snippets nobody generates."""
    changed = [path for path, text in files.items() if not path.is_file() or path.read_text() != text]
    stale = [path for path in SNIPPETS_DIR.rglob("*") if path.is_file() and path not in files]
    return sorted(changed + stale)
