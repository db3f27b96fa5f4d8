"""The outbound guard of webhooks: which addresses are refused, checked after resolution, at registration and at
delivery, with real HTTP receivers on 127.0.0.1 and loopback disallowed unless a test allows it."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from ledger.dispatcher import new_http_client
from ledger.finance_domain import FinanceInputError
from ledger.webhook_network import NetworkPolicy, check_url
from ledger.webhook_post import Message, attempt
from tests.webhook_receiver import Answer, ScriptedReceiver

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LOOPBACK_ALLOWED = NetworkPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("::ffff:8.8.8.8", "IPv4-mapped IPv6"),
        ("64:ff9b::a00:1", "NAT64"),
        ("fc00::1", "private"),
        ("2002:a9fe:a9fe::", "6to4"),
        ("2002:808:808::1", "6to4"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("64:ff9b:1::a9fe:a9fe", "reserved"),
    ],
)
def test_non_global_addresses_are_refused(address: str, kind: str) -> None:
    refusal = NetworkPolicy().refusal(ipaddress.ip_address(address))
    assert refusal is not None and kind in refusal


def test_global_addresses_pass_and_settings_widen_the_policy() -> None:
    for address in ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"):
        assert NetworkPolicy().refusal(ipaddress.ip_address(address)) is None
    assert LOOPBACK_ALLOWED.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert LOOPBACK_ALLOWED.refusal(ipaddress.ip_address("10.0.0.1")) is not None
    assert NetworkPolicy(allow_private=True).refusal(ipaddress.ip_address("10.0.0.1")) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/",
        "http://10.0.0.1/",
        "https://0x7f.0.0.1/",
        "http://169.254.169.254./latest/meta-data",
        "http://10.0.0.1./x",
        "http://0x7f.1./x",
        "http://[2002:a9fe:a9fe::]/x",
        "http://[2002:a9fe:a9fe::1]/x",
        "http://[::ffff:a9fe:a9fe]/x",
    ],
)
def test_registration_refuses_a_literal_private_host(url: str) -> None:
    with pytest.raises(FinanceInputError):
        check_url(url, NetworkPolicy())


def test_registration_takes_public_names_and_addresses() -> None:
    for url in ("https://hooks.example.com/luntrex", "http://8.8.8.8:8080/x", "https://[2606:4700:4700::1111]/"):
        check_url(url, NetworkPolicy())


def _message() -> Message:
    return Message("evt_test", b'{"type":"job.completed"}', (SECRET,))


async def test_a_host_resolving_to_loopback_is_refused_at_delivery() -> None:
    async with ScriptedReceiver() as receiver, new_http_client(4, 10.0) as http:
        url = f"http://localhost:{receiver.port}/hook"
        outcome = await attempt(http, url, _message(), policy=NetworkPolicy(), timeout_s=2)
    assert not outcome.ok and outcome.status_code is None
    assert outcome.error is not None and "loopback" in outcome.error and "localhost resolves to" in outcome.error
    assert receiver.received == []  # nothing reached the receiver


async def test_delivery_connects_to_the_checked_address_and_keeps_the_host_name() -> None:
    policy = NetworkPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")))
    async with ScriptedReceiver() as receiver, new_http_client(4, 10.0) as http:
        outcome = await attempt(http, f"http://localhost:{receiver.port}/hook", _message(), policy=policy, timeout_s=2)
    assert outcome.ok, outcome
    assert receiver.received[0].headers["host"] == f"localhost:{receiver.port}"
    assert receiver.received[0].headers["webhook-id"] == "evt_test"


@pytest.mark.parametrize("target", ["http://127.0.0.1:9/x", "http://169.254.169.254/latest/meta-data"])
async def test_redirects_are_never_followed(target: str) -> None:
    script = lambda n: Answer(status=302, headers={"location": target})  # noqa: E731
    async with ScriptedReceiver(script=script) as receiver, new_http_client(4, 10.0) as http:
        outcome = await attempt(http, receiver.url, _message(), policy=LOOPBACK_ALLOWED, timeout_s=2)
    assert not outcome.ok and outcome.status_code == 302
    assert outcome.error is not None and "redirects are not followed" in outcome.error
    assert len(receiver.received) == 1


async def test_a_receiver_that_never_answers_costs_one_deadline() -> None:
    async with ScriptedReceiver(script=lambda n: Answer(hang=True)) as receiver, new_http_client(4, 10.0) as http:
        outcome = await attempt(http, receiver.url, _message(), policy=LOOPBACK_ALLOWED, timeout_s=0.5)
    assert not outcome.ok and outcome.error == "no answer within 0.5s"
    assert outcome.latency_ms < 3000


async def test_a_huge_answer_body_is_never_read() -> None:
    script = lambda n: Answer(status=200, body_bytes=500 * 1024 * 1024)  # noqa: E731
    async with ScriptedReceiver(script=script) as receiver, new_http_client(4, 10.0) as http:
        outcome = await attempt(http, receiver.url, _message(), policy=LOOPBACK_ALLOWED, timeout_s=5)
    assert outcome.ok and outcome.status_code == 200
    assert isinstance(http, httpx.AsyncClient)


async def test_a_receiver_slower_than_httpx_default_but_inside_the_deadline_is_delivered() -> None:
    """`LUNTREX_WEBHOOK_TIMEOUT_S` is the attempt's deadline: httpx's own 5 s default must not cut a receiver
    answering 200 after 6 s when the deadline is 9 s (it would be logged failed and get the event again)."""
    script = lambda n: Answer(status=200, delay_s=6.0)  # noqa: E731
    async with ScriptedReceiver(script=script) as receiver, new_http_client(4, 9.0) as http:
        outcome = await attempt(http, receiver.url, _message(), policy=LOOPBACK_ALLOWED, timeout_s=9.0)
    assert outcome.ok and outcome.status_code == 200, outcome
    assert 6000 <= outcome.latency_ms < 9000
    assert len(receiver.received) == 1


async def test_a_literal_host_with_the_roots_trailing_dot_is_checked_and_delivered_to_as_the_address() -> None:
    async with ScriptedReceiver() as receiver, new_http_client(4, 5.0) as http:
        url = f"http://127.0.0.1.:{receiver.port}/hook"
        allowed = await attempt(http, url, _message(), policy=LOOPBACK_ALLOWED, timeout_s=2)
        refused = await attempt(http, url, _message(), policy=NetworkPolicy(), timeout_s=2)
    assert allowed.ok, allowed
    assert not refused.ok and refused.error is not None and "loopback" in refused.error
    assert len(receiver.received) == 1
