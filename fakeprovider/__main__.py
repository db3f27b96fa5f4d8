"""Entrypoint of the fake provider server: `python -m fakeprovider --port 8700 [--host 127.0.0.1]`."""

from __future__ import annotations

import argparse
import socket

import uvicorn

from fakeprovider.app import create_app
from fakeprovider.settings import FakeProviderSettings


class ReadyFileServer(uvicorn.Server):
    """A uvicorn server that writes the ready file once its sockets listen, not merely at app start-up."""

    def __init__(self, config: uvicorn.Config, settings: FakeProviderSettings) -> None:
        super().__init__(config)
        self.settings = settings

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.settings.ready_file is not None:
            self.settings.ready_file.write_text(f"{self.settings.host}:{self.settings.port}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fakeprovider", description=__doc__)
    parser.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port to bind (default 8700)")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    settings = FakeProviderSettings(**overrides)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        access_log=False,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        # A `timeout` scenario may hold requests open; do not let them delay shutdown for long.
        timeout_graceful_shutdown=2,
    )
    ReadyFileServer(config, settings).run()


if __name__ == "__main__":
    main()
