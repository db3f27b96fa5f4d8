"""A tiny local HTTP receiver for webhook tests: records every POST and answers from a script."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next status of `statuses` (the last one repeats); `delay_s` stalls each."""

    statuses: list[int] = field(default_factory=lambda: [200])
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")[1:]
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.received.append(Received(headers, body))
            status = self.statuses[min(len(self.received) - 1, len(self.statuses) - 1)]
            await asyncio.sleep(self.delay_s)
            writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@dataclass
class Answer:
    """How a scripted receiver answers one POST: a status after `delay_s`, optionally with a body of
    `body_bytes` dripped over `drip_s`, extra headers (a redirect's Location), or no answer at all."""

    status: int = 200
    delay_s: float = 0.0
    body_bytes: int = 0
    drip_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


@dataclass
class ScriptedReceiver(Receiver):
    """A receiver whose n-th POST (0-based) is answered by `script(n)`; `answered` lists the webhook-ids of the
    POSTs it answered 2xx to (what a real receiver would have processed)."""

    script: Any = None
    answered: list[str] = field(default_factory=list)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")[1:]
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            index = len(self.received)
            self.received.append(Received(headers, body))
            answer: Answer = self.script(index) if self.script is not None else Answer()
            await asyncio.sleep(answer.delay_s)
            if answer.hang:
                await reader.read()  # until the caller gives up and closes
                return
            extra = "".join(f"{name}: {value}\r\n" for name, value in answer.headers.items())
            length = answer.body_bytes
            writer.write(
                f"HTTP/1.1 {answer.status} X\r\ncontent-length: {length}\r\n{extra}connection: close\r\n\r\n".encode()
            )
            await writer.drain()
            if 200 <= answer.status < 300:
                self.answered.append(headers.get("webhook-id", ""))
            chunk = b"x" * 65536
            sent = 0
            while sent < length:
                writer.write(chunk[: length - sent])
                sent += min(len(chunk), length - sent)
                await writer.drain()
                if answer.drip_s:
                    await asyncio.sleep(answer.drip_s)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
