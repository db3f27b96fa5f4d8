"""Runs the ingress: `python -m ingress [--port N]`."""

from __future__ import annotations

import argparse

from ingress.app import create_app
from ingress.server import serve
from ingress.settings import IngressSettings
from runtime.logs import configure_logging
from runtime.readiness import clear_ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int)
    parser.add_argument("--host")
    args = parser.parse_args()
    settings = IngressSettings()
    if args.port:
        settings = settings.model_copy(update={"port": args.port})
    if args.host:
        settings = settings.model_copy(update={"host": args.host})
    configure_logging(settings.log_level, settings=settings, service="ingress")
    clear_ready(settings.ready_file)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
