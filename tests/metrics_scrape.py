"""Reads a service's `/metrics` the way Prometheus does, for tests: samples by name and labels."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from runtime.metrics import Samples, parse_exposition


async def scrape(url: str) -> tuple[str, Samples]:
    """The exposition text and its samples, keyed by (sample name, labels)."""
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url)
    response.raise_for_status()
    return response.text, parse_exposition(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of every sample named `name` whose labels include `labels` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (sample, have), v in samples.items() if sample == name and wanted <= have)


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(have).get(label, "") for (sample, have) in samples if sample == name}


def names(samples: Mapping[tuple[str, frozenset[tuple[str, str]]], float]) -> set[str]:
    return {sample for sample, _ in samples}
