"""One webhook attempt: sign, resolve and check the host, POST to the checked address, and say what happened.

Hostile receivers cost one bounded attempt: the whole attempt (resolution included) runs under one deadline,
the response body is never read (its status line and headers are all that count), redirects are not followed,
and connections are never reused (each attempt connects to the address it has just checked).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import socket
import time
from dataclasses import dataclass

import httpx

from ledger.webhook_network import PORT_MAX, PORT_MIN, AddressRefused, NetworkPolicy, literal_address

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
ERROR_LENGTH_MAX = 500


@dataclass(frozen=True, slots=True)
class Message:
    """What one attempt sends: the `webhook-id`, the JSON body, and the secrets that sign it (1 or 2)."""

    message_id: str
    body: bytes
    secrets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    ok: bool
    status_code: int | None
    latency_ms: int
    error: str | None


def sign(secret: str, message_id: str, timestamp_s: int, body: bytes) -> str:
    """One `webhook-signature` entry: v1, HMAC-SHA256 of `id.timestamp.body` under the decoded secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{message_id}.{timestamp_s}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers_for(message: Message, timestamp_s: int) -> dict[str, str]:
    # During a rotation's overlap both secrets sign: a receiver holding either one verifies.
    signatures = " ".join(sign(secret, message.message_id, timestamp_s, message.body) for secret in message.secrets)
    return {
        "content-type": "application/json",
        "user-agent": "luntrex-webhooks/1",
        "webhook-id": message.message_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": signatures,
    }


async def resolve_checked(host: str, port: int, policy: NetworkPolicy) -> str:
    """The address to connect to: every address the host resolves to must pass the policy."""
    literal = literal_address(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise AddressRefused(f"{host} does not resolve ({exc})") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            raise AddressRefused(f"{host} does not resolve")
    for address in addresses:
        if (why := policy.refusal(address)) is not None:
            raise AddressRefused(f"refused: {host} resolves to {why}")
    return str(addresses[0])


async def attempt(
    http: httpx.AsyncClient, url: str, message: Message, *, policy: NetworkPolicy, timeout_s: float
) -> AttemptOutcome:
    """POST once; a 2xx is a success, anything else (3xx included) a failure with its reason."""
    started = time.monotonic()

    def outcome(ok: bool, status_code: int | None, error: str | None) -> AttemptOutcome:
        latency_ms = int((time.monotonic() - started) * 1000)
        return AttemptOutcome(ok, status_code, latency_ms, error[:ERROR_LENGTH_MAX] if error else None)

    try:
        async with asyncio.timeout(timeout_s):
            status_code = await _post_pinned(http, httpx.URL(url), message, policy)
    except AddressRefused as exc:
        return outcome(False, None, str(exc))
    except TimeoutError:
        return outcome(False, None, f"no answer within {timeout_s:g}s")
    except (httpx.HTTPError, OSError, ValueError) as exc:
        return outcome(False, None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    if 200 <= status_code < 300:
        return outcome(True, status_code, None)
    if 300 <= status_code < 400:
        return outcome(False, status_code, f"HTTP {status_code}: redirects are not followed")
    return outcome(False, status_code, f"HTTP {status_code}")


async def _post_pinned(http: httpx.AsyncClient, url: httpx.URL, message: Message, policy: NetworkPolicy) -> int:
    port = url.port or (443 if url.scheme == "https" else 80)
    if not PORT_MIN <= port <= PORT_MAX:
        # Registration refuses such a URL; one registered before it did is a failed attempt, not a crash.
        raise ValueError(f"port {port} is not a TCP port ({PORT_MIN}-{PORT_MAX})")
    address = await resolve_checked(url.host, port, policy)
    headers = headers_for(message, int(time.time()))
    headers["host"] = url.netloc.decode("ascii")
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    pinned = url.copy_with(host=address)
    request = http.build_request("POST", pinned, content=message.body, headers=headers, extensions=extensions)
    response = await http.send(request, stream=True, follow_redirects=False)
    # The body is never read: closing the stream drops the connection, however much the receiver would send.
    await response.aclose()
    return response.status_code
