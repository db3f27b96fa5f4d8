"""The adapters' HTTP client: a provider request built from cached parts and sent straight to the transport.

`httpx.AsyncClient.build_request` + `send` took 44% of a worker's CPU while a batch drained (py-spy), much
of it on work a provider call never needs: re-parsing the same endpoint URL and re-merging the same
headers every call, persisting cookies, and the auth and redirect loops. A ProviderClient keeps httpx's
public types (an `httpx.Request`, an `httpx.Response`, an `httpx.AsyncBaseTransport`) and does only this:
- the URL is parsed and the headers merged (httpx's defaults, then the adapter's) once per distinct value;
- the request carries the per-phase timeout exactly as `build_request(timeout=...)` sets it;
- it goes to the transport's `handle_async_request`, and the response comes back with its body unread.
What it leaves out, on purpose:
- cookies: one client serves every workspace's calls, so a provider's Set-Cookie (a load balancer's
  affinity cookie, say) must never travel with the next call, which may be another workspace's;
- redirects: a 3xx is the provider's answer and is handed back as it came (the adapters make it an error);
- auth flows: each adapter puts its key in its own headers.
Proxies from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, any case, with NO_PROXY) are honoured: a
deployment behind an egress proxy has no other way out. (httpx itself reads them only for a client built without
a transport of its own, so the workers' aiohttp transport never did.) A call whose host NO_PROXY does not exempt
goes to an `httpx.AsyncHTTPTransport` for that scheme's proxy, at the same transport level as every other call.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from types import TracebackType

import httpx

# Distinct endpoint URLs and header sets remembered: one per adapter and model at most, so a full cache
# means a caller is varying them per call, and those calls are simply built uncached.
URLS_CACHED_MAX = 1024
HEADER_SETS_CACHED_MAX = 256


def environment_proxies() -> dict[str, str]:
    """The proxy URL per scheme ("http", "https") the environment names (ALL_PROXY for a scheme it leaves out)."""
    named = urllib.request.getproxies()
    found = {scheme: named.get(scheme) or named.get("all") for scheme in ("http", "https")}
    return {scheme: url for scheme, url in found.items() if url}


class ProviderClient:
    """Provider requests over one transport, which the client owns (closing the client closes it)."""

    def __init__(self, transport: httpx.AsyncBaseTransport, *, proxies: Mapping[str, str] | None = None) -> None:
        self._transport = transport
        # The AsyncClient is kept for what it is the public source of: httpx's default headers (accept,
        # accept-encoding, connection, user-agent), sent as before, and the transport's lifecycle. It never
        # routes a request, so it reads no proxies from the environment.
        self._owner = httpx.AsyncClient(transport=transport, trust_env=False)
        # Per scheme, the transport through that scheme's proxy (`environment_proxies()`, read once at start).
        self._proxied = {scheme: httpx.AsyncHTTPTransport(proxy=url) for scheme, url in (proxies or {}).items()}
        self._urls: dict[str, httpx.URL] = {}
        self._headers: dict[tuple[tuple[str, str], ...], httpx.Headers] = {}

    async def __aenter__(self) -> ProviderClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for proxied in self._proxied.values():
            await proxied.aclose()
        await self._owner.aclose()

    def build_post(self, url: str, headers: Mapping[str, str], content: bytes, timeout_s: float) -> httpx.Request:
        """The request `AsyncClient.build_request("POST", url, ...)` builds, less the client's (unused) cookies."""
        return httpx.Request(
            "POST",
            self._url(url),
            headers=self._merged(headers),
            content=content,
            # The transport bounds each phase (connect, write, every read, pool) by it, as build_request sets it.
            extensions={"timeout": httpx.Timeout(timeout_s).as_dict()},
        )

    async def send(self, request: httpx.Request) -> httpx.Response:
        """The response, its body not read yet: the caller reads it (bounded) and closes it."""
        response = await self._transport_for(request.url).handle_async_request(request)
        response.request = request
        return response

    def _transport_for(self, url: httpx.URL) -> httpx.AsyncBaseTransport:
        if not self._proxied:
            return self._transport
        proxied = self._proxied.get(url.scheme)
        if proxied is None or urllib.request.proxy_bypass(url.host):
            return self._transport
        return proxied

    def _url(self, url: str) -> httpx.URL:
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = httpx.URL(url)
            if len(self._urls) < URLS_CACHED_MAX:
                self._urls[url] = parsed
        return parsed

    def _merged(self, headers: Mapping[str, str]) -> httpx.Headers:
        # httpx.Request copies the Headers it is given, so the cached object is never changed by a request.
        key = tuple(headers.items())
        merged = self._headers.get(key)
        if merged is None:
            merged = httpx.Headers(self._owner.headers)
            merged.update(headers)
            if len(self._headers) < HEADER_SETS_CACHED_MAX:
                self._headers[key] = merged
        return merged
