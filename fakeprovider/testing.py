"""Running a fake provider server in-process for tests: uvicorn on a free loopback port, in its own thread.

    with RunningFakeProvider() as fake:
        fake.url                      # "http://127.0.0.1:<port>"
        fake.set_scenario("gpt-4o", fail_status=429, fail_times=1)
        fake.recorded_requests()
        fake.calls("gpt-4o")              # {"received": n, "answered": m, "in_flight": n - m}

The server has its own event loop, so it works under any test event loop and with blocking callers.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from fakeprovider.app import create_app
from fakeprovider.settings import FakeProviderSettings

START_WAIT_S_MAX = 10.0


class RunningFakeProvider:
    def __init__(self, settings: FakeProviderSettings | None = None) -> None:
        self.settings = settings or FakeProviderSettings()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        # One admin client for the server's life: building an httpx client per call costs ~0.1 s (TLS setup).
        self._admin: httpx.Client | None = None
        self.url = ""

    def start(self) -> RunningFakeProvider:
        # Binding the socket here (port 0) gives a free port with no race between choosing and binding it.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.settings),
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-provider", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_WAIT_S_MAX
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake provider server did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}"
        self._admin = httpx.Client(base_url=self.url)
        return self

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=START_WAIT_S_MAX)
        self._server = self._thread = None

    def __enter__(self) -> RunningFakeProvider:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def set_scenario(self, model: str, **knobs: Any) -> None:
        response = self._client().post("/_fake/scenario", json={"model": model, **knobs})
        response.raise_for_status()

    def reset(self) -> None:
        """Forget scenarios, fail counters, call counters and recorded requests."""
        self._client().delete("/_fake/scenario").raise_for_status()
        self._client().delete("/_fake/requests").raise_for_status()
        self._client().delete("/_fake/calls").raise_for_status()

    def calls(self, model: str) -> dict[str, int]:
        """Valid calls of `model` since the last reset: received, answered, and in flight between the two."""
        response = self._client().get("/_fake/calls")
        response.raise_for_status()
        counts: dict[str, int] = response.json()["calls"].get(model, {"received": 0, "answered": 0, "in_flight": 0})
        return counts

    def recorded_requests(self) -> list[dict[str, Any]]:
        response = self._client().get("/_fake/requests")
        response.raise_for_status()
        requests: list[dict[str, Any]] = response.json()["requests"]
        return requests

    def _client(self) -> httpx.Client:
        assert self._admin is not None, "start() the fake provider first"
        return self._admin
