"""Reads the model catalogue file; all validation lives in `schemas.catalogue`."""

from __future__ import annotations

from pathlib import Path

from schemas.catalogue import Catalogue, CatalogueError, parse_catalogue


def load_catalogue(path: Path) -> Catalogue:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(f"cannot read model catalogue {path}: {exc}") from exc
    return parse_catalogue(text)
