"""The fake provider's admin API: set and reset the scripted latency of every model."""

from __future__ import annotations

import json
import urllib.request

ADMIN_TIMEOUT_S = 5.0


def _call(method: str, url: str, payload: dict[str, object] | None = None) -> None:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=ADMIN_TIMEOUT_S) as response:
        response.read()


def set_latency(fake_url: str, latency_ms: int) -> None:
    """Every model answers after ``latency_ms``; 0 resets every scenario to the plain answer."""
    if latency_ms == 0:
        reset(fake_url)
    else:
        _call("POST", f"{fake_url}/_fake/scenario", {"model": "*", "latency_ms": latency_ms})


def reset(fake_url: str) -> None:
    _call("DELETE", f"{fake_url}/_fake/scenario")
