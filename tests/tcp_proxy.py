"""A TCP proxy a test can cut, stall and restore: an outage of the shared Kafka or PostgreSQL for one client.

The shared services cannot be stopped (other sessions use them), so a service under test reaches them
through this proxy instead. Kafka clients connect to the address the broker advertises in its metadata, not
the one they bootstrapped from, so for Kafka (`kafka=True`) the proxy rewrites the advertised port in every
response frame to its own (same length, so the framing holds) and the client keeps talking through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct


class TcpProxy:
    def __init__(self, upstream: str, port: int, *, kafka: bool) -> None:
        self._kafka = kafka
        host, upstream_port = upstream.rsplit(":", 1)
        self.host, self.upstream_port, self.port = host, int(upstream_port), port
        advertised, own = struct.pack(">i", self.upstream_port), struct.pack(">i", port)
        encoded = host.encode()
        # The host string as classic (int16 length) and compact (varint length + 1) encodings, then the port.
        self._rewrites = [
            (struct.pack(">h", len(encoded)) + encoded + advertised, struct.pack(">h", len(encoded)) + encoded + own),
            (bytes([len(encoded) + 1]) + encoded + advertised, bytes([len(encoded) + 1]) + encoded + own),
        ]
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        self._flowing.set()
        self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)

    async def cut(self) -> None:
        """The broker becomes unreachable: listening stops and every open connection is closed."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        self._flowing.set()  # stalled forwarders wake up, meet their closed connection and end

    def stall(self) -> None:
        """Connections stay open but nothing more reaches the broker: requests hang unanswered."""
        self._flowing.clear()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            broker_reader, broker_writer = await asyncio.open_connection(self.host, self.upstream_port)
        except OSError:
            client_writer.close()
            return
        self._writers.update((client_writer, broker_writer))
        try:
            await asyncio.gather(
                self._requests(client_reader, broker_writer), self._responses(broker_reader, client_writer)
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for writer in (client_writer, broker_writer):
                writer.close()
                self._writers.discard(writer)

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65536):
            await self._flowing.wait()
            writer.write(chunk)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.close()

    async def _responses(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._kafka:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
            return
        while True:
            size = await reader.readexactly(4)
            frame = await reader.readexactly(struct.unpack(">i", size)[0])
            for advertised, own in self._rewrites:
                frame = frame.replace(advertised, own)
            writer.write(size + frame)
            await writer.drain()
