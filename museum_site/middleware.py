"""A per-client request budget for the JSON API, counted in Redis so every web process shares it; a 503
page for a page that meets a database or Redis outage."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from functools import lru_cache

import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from core.logging_limits import warn_limited

logger = logging.getLogger(__name__)

# A fixed window per client: the first request of a window starts its clock. Atomic in Redis, so
# concurrent requests from many web processes never overshoot the budget.
_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
"""


@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    # Short timeouts: when Redis is away, the API answers unlimited rather than slowly.
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def client_address(request: HttpRequest, proxy_count: int) -> str:
    """The client's address: REMOTE_ADDR, or with ``proxy_count`` trusted proxies in front, the
    address the outermost of them saw (the entry it appended to X-Forwarded-For)."""
    if proxy_count > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxy_count:
            return forwarded[-proxy_count]
    return str(request.META.get("REMOTE_ADDR", ""))


class APIRateLimitMiddleware:
    """Answer 429 with Retry-After once a client has used ``API_RATE_LIMIT_REQUESTS`` requests
    under ``API_RATE_LIMIT_PATH_PREFIX`` in ``API_RATE_LIMIT_WINDOW_SECONDS``. 0 requests: no limit.

    If Redis cannot be reached the request is served: the limit protects capacity, and refusing
    every search because the counter is away would be the outage it is meant to prevent.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.API_RATE_LIMIT_REQUESTS
        if limit <= 0 or not request.path.startswith(settings.API_RATE_LIMIT_PATH_PREFIX):
            return self.get_response(request)
        window_ms = settings.API_RATE_LIMIT_WINDOW_SECONDS * 1000
        client = client_address(request, settings.API_RATE_LIMIT_PROXY_COUNT)
        key = "ratelimit:api:" + hashlib.sha256(client.encode()).hexdigest()[:32]
        try:
            count, ttl_ms = _redis(settings.REDIS_URL).eval(_COUNT, 1, key, window_ms)
        except redis.RedisError as exc:
            warn_limited(logger, "redis", "API rate limit not applied, Redis is unavailable: %s", exc)
            return self.get_response(request)
        if int(count) > limit:
            retry_after = max(1, -(-int(ttl_ms) // 1000))  # whole seconds, rounded up
            response: HttpResponse = JsonResponse(
                {"error": f"too many requests: at most {limit} every {settings.API_RATE_LIMIT_WINDOW_SECONDS} s"},
                status=429,
            )
            response["Retry-After"] = str(retry_after)
        else:
            response = self.get_response(request)
        response["X-RateLimit-Limit"] = str(limit)
        response["X-RateLimit-Remaining"] = str(max(limit - int(count), 0))
        return response


# What an outage of the database or Redis raises (a bug, like ProgrammingError, stays a 500).
OUTAGES: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    redis.ConnectionError,
    redis.TimeoutError,
)
RETRY_AFTER_SECONDS = 30


class ServiceUnavailableMiddleware:
    """A page whose view meets a database or Redis outage answers a short 503 page with Retry-After,
    not a 500: the visitor learns to come back, and the log gets one line a minute, not a traceback
    per request. (The JSON API answers its own 503, search/api.py.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OUTAGES):
            return None
        warn_limited(logger, type(exception).__name__, "%s answered 503: %s", request.path, exception)
        # Rendered without the request: its context processors would read the session, in the database.
        response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
