"""Per-client budgets counted in Redis: who a client is, what each route costs, and the atomic spend.

Every web process shares the counters, so a client cannot escape by landing on another worker. The
request limiter (museum_site/middleware.py) and the admin login throttle (museum_site/login_throttle.py)
both spend through ``spend``. When Redis cannot be reached, ``spend`` answers None and the caller
serves the request: the limit protects capacity, and refusing everyone because its counter is away
would be the outage it is meant to prevent.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from enum import StrEnum

import redis
from django.conf import settings
from django.http import HttpRequest

from core.logging_limits import warn_limited
from core.redis_clients import REQUEST_TIMEOUT_SECONDS, redis_client

logger = logging.getLogger(__name__)


class Cost(StrEnum):
    """What a route costs a client's budget (the settings RATE_LIMIT_COST_*)."""

    SEARCH = "search"  # a text search: the text tower, then ranking; cheaper when answered from the cache
    IMAGE = "image"  # a search by image: decoding and the image tower, the costliest thing the site does
    OTHER = "other"  # a lookup, a vector neighbour list, the health check and the metrics
    FREE = "free"  # static pages, the admin (staff; its login has its own throttle), liveness probes


# Every route by its resolved name (namespace:name). A route missing here is free;
# museum_site/tests/test_rate_limit_by_cost.py fails when a route is in neither this table nor FREE_ROUTES,
# so a new search route cannot be added without a price.
ROUTE_COSTS: dict[str, Cost] = {
    "index": Cost.SEARCH,  # the search page and its htmx fragments
    "api:search_artworks": Cost.SEARCH,
    "image-search": Cost.IMAGE,
    "api:search_by_image": Cost.IMAGE,
    # GET on the same path, by a token: resolved as the route above (Django takes the first of a path).
    "api:search_by_image_token": Cost.IMAGE,
    "artwork": Cost.OTHER,  # the record and its similar artworks
    "search-click": Cost.OTHER,  # a result opened from a search, for the search log: one Redis push
    "api:artwork_record": Cost.OTHER,
    "api:suggest": Cost.OTHER,  # suggestions as a visitor types: one indexed query
    "api:similar": Cost.OTHER,
    "api:similar_to_several": Cost.OTHER,
    "similar-artworks": Cost.OTHER,  # the page of "more like these"
    "api:healthz": Cost.OTHER,  # counts tables: a probe loop must not be free
    "api:metrics": Cost.OTHER,
    "api:openapi-json": Cost.OTHER,  # the schema is built from every endpoint
}
# Never charged: probes that must stay cheap and always answer (exempt by name, wherever they are
# routed), the API's static docs page and its root (shadowed by the search page), and the admin (namespace "admin", and the jobs dashboard).
FREE_ROUTES = frozenset(
    {
        "livez",
        "readyz",
        "api:livez",
        "api:readyz",
        "api:openapi-view",
        "api:api-root",
        "jobs-dashboard",
        "jobs-action",
        "admin-login",
    }
)
FREE_NAMESPACES = frozenset({"admin"})


def route_cost(view_name: str) -> Cost:
    if view_name in FREE_ROUTES or view_name.partition(":")[0] in FREE_NAMESPACES:
        return Cost.FREE
    return ROUTE_COSTS.get(view_name, Cost.FREE)


def cost_units(cost: Cost) -> int:
    """The units a request of this class spends up front (a text search: as if cached; see middleware)."""
    return {
        Cost.SEARCH: settings.RATE_LIMIT_COST_CACHED,
        Cost.IMAGE: settings.RATE_LIMIT_COST_IMAGE,
        Cost.OTHER: settings.RATE_LIMIT_COST_OTHER,
        Cost.FREE: 0,
    }[cost]


# --- Who the client is ---------------------------------------------------------------------------


def client_address(request: HttpRequest, proxy_count: int) -> str:
    """The client's address: REMOTE_ADDR, or with ``proxy_count`` trusted proxies in front, the
    address the outermost of them saw (the entry it appended to X-Forwarded-For)."""
    if proxy_count > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxy_count:
            return forwarded[-proxy_count]
    return str(request.META.get("REMOTE_ADDR", ""))


def client_id(address: str) -> str:
    """The unit a budget belongs to: an IPv4 address, or an IPv6 address's /64 (one subscriber is
    given a whole /64, and could otherwise take a new address for every request). An IPv4 address
    written as IPv6 (``::ffff:203.0.113.7``) is that IPv4 address; a port or brackets a proxy left
    on are dropped. Anything unparseable is its own client, as written."""
    text = address.strip()
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # 203.0.113.7:51234
        text = text.partition(":")[0]
    text = text.partition("%")[0]  # a zone: fe80::1%eth0
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return address.strip()
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def request_client(request: HttpRequest) -> str:
    return client_id(client_address(request, settings.RATE_LIMIT_PROXY_COUNT))


def budget_key(kind: str, client: str) -> str:
    """The Redis key of one client's counter of ``kind``; hashed, so no address is stored readable."""
    return f"ratelimit:{kind}:" + hashlib.sha256(client.encode()).hexdigest()[:32]


# --- The atomic spend ------------------------------------------------------------------------------

# A fixed window per key: the first spend of a window starts its clock. Atomic in Redis, so concurrent
# requests from many web processes never overshoot the budget. A spend of 0 reads the total.
_SPEND = """
local total = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {total, ttl}
"""


def _redis(url: str) -> redis.Redis:
    # A request's patience: when Redis is away, the site answers unlimited rather than slowly.
    return redis_client(url, timeout=REQUEST_TIMEOUT_SECONDS)


def spend(key: str, units: int, window_seconds: int) -> tuple[int, int] | None:
    """Add ``units`` to ``key``'s total in its window: (the new total, seconds until the window ends,
    rounded up). None when Redis cannot be reached (a warning is logged, at most one a minute)."""
    try:
        total, ttl_ms = _redis(settings.REDIS_URL).eval(_SPEND, 1, key, window_seconds * 1000, units)
    except redis.RedisError as exc:
        warn_unavailable(exc)
        return None
    return int(total), max(1, -(-int(ttl_ms) // 1000))


def forget(key: str) -> None:
    try:
        _redis(settings.REDIS_URL).delete(key)
    except redis.RedisError as exc:
        warn_unavailable(exc)


def warn_unavailable(exc: Exception) -> None:
    """One warning a minute, with a count of those held back: an outage seen by every request must
    not flood the log with one line each."""
    warn_limited(logger, "redis", "rate limits not applied, Redis is unavailable: %s", exc)
