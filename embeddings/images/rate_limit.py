"""One IIIF request rate shared by every worker, held in Redis."""

from __future__ import annotations

import time

import redis
from django.conf import settings

from core.redis_clients import WORKER_TIMEOUT_SECONDS, redis_client

# Generic cell rate algorithm: the key holds the earliest time the next request may start.
# Each caller reserves a slot atomically and sleeps until it; Redis's clock is the only clock.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local next_at = tonumber(redis.call('GET', KEYS[1]) or '0')
if next_at < now then next_at = now end
redis.call('SET', KEYS[1], tostring(next_at + interval), 'PX', math.ceil(interval * 1000) + 60000)
return tostring(next_at - now)
"""

_REDIS_OUTAGE_SECONDS = 60.0


class SharedRateLimiter:
    def __init__(self, client: redis.Redis, key: str, per_second: float) -> None:
        self.client = client
        self.key = key
        self.interval = 1.0 / per_second
        self._reserve = client.register_script(_RESERVE)

    def wait(self) -> float:
        """Block until this caller may send its request; returns the seconds waited.

        While Redis is away (a restart, a failover) the caller waits for it, up to a minute, rather
        than fail: an image that could not be paced is not a bad image.
        """
        deadline = time.monotonic() + _REDIS_OUTAGE_SECONDS
        pause = 0.1
        while True:
            try:
                delay = float(self._reserve(keys=[self.key], args=[self.interval]))
                break
            except (redis.ConnectionError, redis.TimeoutError):
                if time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
        if delay > 0:
            time.sleep(delay)
        return max(delay, 0.0)


def iiif_rate_limiter() -> SharedRateLimiter:
    return SharedRateLimiter(
        redis_client(settings.REDIS_URL, timeout=WORKER_TIMEOUT_SECONDS),
        "ratelimit:iiif",
        settings.IIIF_REQUESTS_PER_SECOND,
    )
