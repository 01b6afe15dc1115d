from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from embeddings.images.rate_limit import SharedRateLimiter


def test_it_spaces_requests_across_limiters_sharing_a_key(redis_client: Any) -> None:
    key = f"test:ratelimit:{time.monotonic_ns()}"
    # Two limiters stand for two worker processes: they share the key, not any memory.
    limiters = [SharedRateLimiter(redis_client, key, per_second=20.0) for _ in range(2)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda i: limiters[i % 2].wait(), range(12)))
    elapsed = time.monotonic() - started
    # 12 requests at 20/s: the last may start 11 intervals (0.55 s) after the first.
    assert elapsed >= 0.5


def test_it_does_not_wait_when_idle(redis_client: Any) -> None:
    limiter = SharedRateLimiter(redis_client, f"test:ratelimit:{time.monotonic_ns()}", per_second=1.0)
    assert limiter.wait() == 0.0
