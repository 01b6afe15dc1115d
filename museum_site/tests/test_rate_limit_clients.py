"""A budget belongs to a client: an IPv4 address, an IPv6 /64 (rotating addresses inside it escapes
nothing), an IPv4-mapped IPv6 address as its IPv4 address, the address the outermost trusted proxy saw."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory

from museum_site.rate_limit import client_address, client_id


@pytest.mark.parametrize(
    ("address", "client"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("[2001:db8:1:2::9]:443", "2001:db8:1:2::/64"),
        ("203.0.113.7:51234", "203.0.113.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("not an address", "not an address"),
    ],
)
def test_it_keys_ipv4_by_address_and_ipv6_by_slash_64(address: str, client: str) -> None:
    assert client_id(address) == client


def test_it_takes_the_address_the_outermost_trusted_proxy_saw() -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9, 10.0.0.2")
    assert client_address(request, 0) == "10.0.0.1"
    assert client_address(request, 1) == "10.0.0.2"
    assert client_address(request, 2) == "203.0.113.9"
    # Fewer entries than proxies: the header did not pass them all, so it is not trusted.
    assert client_address(RequestFactory().get("/", REMOTE_ADDR="10.0.0.1"), 1) == "10.0.0.1"


@pytest.mark.django_db
def test_rotating_ipv6_addresses_within_a_slash_64_shares_one_budget(settings: Any, redis_client: Any) -> None:
    for key in redis_client.scan_iter("ratelimit:requests:*"):
        redis_client.delete(key)
    settings.RATE_LIMIT_BUDGET = 3
    settings.RATE_LIMIT_COST_CACHED = 1
    settings.RATE_LIMIT_PROXY_COUNT = 1
    proxy = Client(REMOTE_ADDR="10.0.0.1")
    statuses = [
        proxy.get("/api/search", {"q": ""}, HTTP_X_FORWARDED_FOR=f"2001:db8:7:7::{n:x}").status_code for n in range(5)
    ]
    assert statuses == [400, 400, 400, 429, 429]
    assert proxy.get("/api/search", {"q": ""}, HTTP_X_FORWARDED_FOR="2001:db8:7:8::1").status_code == 400
    # The same IPv4 client, written as IPv6, is the same client.
    for _ in range(3):
        proxy.get("/api/search", {"q": ""}, HTTP_X_FORWARDED_FOR="198.51.100.30")
    assert proxy.get("/api/search", {"q": ""}, HTTP_X_FORWARDED_FOR="::ffff:198.51.100.30").status_code == 429
