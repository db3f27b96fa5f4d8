"""Where webhooks may go: the outbound address policy (no private, loopback, link-local or other non-global
address unless allowed) and the URL checks made when an endpoint is registered.

The dispatcher resolves a host once, checks every address it resolves to, then connects to the checked address
itself (`pinned_request`), so a second DNS answer (rebinding) cannot send the POST elsewhere. Redirects are never
followed (Standard Webhooks counts a 3xx as a failure), so a redirect cannot lead anywhere either.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field

import httpx

from ledger.finance_domain import FinanceInputError
from schemas.webhooks import URL_LENGTH_MAX

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PORT_MIN, PORT_MAX = 1, 65535
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(Exception):
    """The URL's host is (or resolves to) an address webhooks may not reach."""


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """`allow_private`: any address; else only global unicast ones, plus `allowed_networks` (an allow-list)."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    def refusal(self, address: IPAddress) -> str | None:
        """Why this address is refused, or None when a webhook may connect to it."""
        if self.allow_private or any(address in network for network in self.allowed_networks):
            return None
        kind = _kind_of(address)
        return None if kind is None else f"{address} is a {kind} address"


def _kind_of(address: IPAddress) -> str | None:
    """The kind of a non-global address, or None for a global unicast one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "IPv4-mapped IPv6"
        if address in _NAT64:
            return "NAT64 (embeds an IPv4 address)"
        # 6to4 and Teredo carry an IPv4 address too, and a relay may forward to it: refused as NAT64 is.
        if address.sixtofour is not None:
            return "6to4 (embeds an IPv4 address)"
        if address.teredo is not None:
            return "Teredo (embeds an IPv4 address)"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("carrier-grade NAT", isinstance(address, ipaddress.IPv4Address) and address in _CGNAT),
        ("private", address.is_private),
        ("non-global", not address.is_global),
    )
    return next((kind for kind, hit in checks if hit), None)


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as one denotes, in any form the resolver accepts (`0x7f.1`, `2130706433`, and
    with the root's trailing dot: `10.0.0.1.`)."""
    bare = host.strip("[]").rstrip(".")
    if not bare:
        return None
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except OSError:
        return None


def check_url(url: str, policy: NetworkPolicy) -> None:
    """Refuse a URL no webhook may have: length, scheme, characters, and a literal host address the policy
    refuses (a host name is checked after resolution, at every delivery)."""
    if not 1 <= len(url) <= URL_LENGTH_MAX:
        raise FinanceInputError(f"url: at most {URL_LENGTH_MAX} characters")
    if not url.isascii() or not url.isprintable() or " " in url:
        raise FinanceInputError("url: printable ASCII without spaces or control characters only")
    if not url.startswith(("http://", "https://")):
        raise FinanceInputError("url: must start with http:// or https://")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise FinanceInputError(f"url: not a valid URL ({exc})") from exc
    if not parsed.host:
        raise FinanceInputError("url: has no host")
    if parsed.userinfo:
        raise FinanceInputError("url: credentials in the URL are not accepted; the signature authenticates")
    if parsed.port is not None and not PORT_MIN <= parsed.port <= PORT_MAX:
        raise FinanceInputError(f"url: port {parsed.port} is not a TCP port ({PORT_MIN}-{PORT_MAX})")
    address = literal_address(parsed.host)
    if address is not None and (why := policy.refusal(address)) is not None:
        raise FinanceInputError(f"url: {why}; webhooks go to public addresses only")
    if address is None and parsed.host.rstrip(".").lower().endswith("localhost") and not policy.allow_private:
        loopback = ipaddress.ip_address("127.0.0.1")
        if policy.refusal(loopback) is not None:
            raise FinanceInputError("url: localhost is a loopback host; webhooks go to public addresses only")
