"""Whole search responses cached in Redis, so a repeated search costs one round trip.

A response is keyed by everything that shapes it (normalised query, mode, filters, sort, page,
page size) and stamped with the search generation: a counter that anything able to change
results bumps (a harvest chunk, a curator's edit, vectors stored under the active model, a
model switch; see ``search/receivers.py``). A response of an older generation is a miss, so
a hidden artwork leaves every cached answer at once. SEARCH_RESULT_CACHE_SECONDS bounds
an entry's life as a safety net; 0 turns the cache off.

The cache's Redis may evict any key when it is full (``allkeys-lru`` in docker-compose.yml), the
generation among them. A generation is therefore a value never used before, not a count that would
start again from zero and meet answers stamped with its old values; a search that finds none sets a
new one before it computes, and stores nothing if another process set one first.

When Redis cannot be reached the search runs as if nothing were cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings

from core.logging_limits import warn_limited
from search.metrics import RESULT_CACHE_LOOKUPS
from search.query_cache import cache_client, normalise_query

logger = logging.getLogger(__name__)

GENERATION_KEY = "museum:search-generation"
_KEY_PREFIX = "museum:search-result:v1"


# Settings that shape a ranking: a deploy that changes one must not be answered from before it.
_RANKING_SETTINGS = (
    "SEARCH_KEYWORD_WEIGHT",
    "SEARCH_SEMANTIC_WEIGHT",
    "SEARCH_BOOST_WEIGHT",
    "SEARCH_RRF_K",
    "SEARCH_HYBRID_CANDIDATES",
    "SEARCH_FACET_TEXT_MATCHES",
    "SEARCH_SORT_WINDOW",
    "HNSW_EF_SEARCH",
    "SEARCH_EXACT_SCAN_MAX",
)


def result_key(query: str, shape: dict[str, Any]) -> str:
    """The key of one response: the normalised query, every other parameter that shapes the answer,
    and the ranking settings."""
    ranking = {name: getattr(settings, name) for name in _RANKING_SETTINGS}
    described = json.dumps({"q": normalise_query(query), **shape, "ranking": ranking}, sort_keys=True, default=str)
    return f"{_KEY_PREFIX}:{hashlib.sha256(described.encode()).hexdigest()}"


def bump_generation() -> None:
    """Every cached response is stale from now on."""
    if settings.SEARCH_RESULT_CACHE_SECONDS <= 0:
        return
    try:
        cache_client().set(GENERATION_KEY, _new_generation())
    except redis.RedisError as exc:
        # Entries then expire by age alone; say so, since results may lag a change until then.
        logger.error("search result cache: could not mark cached results stale: %s", exc)


def cached(key: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The response stored under ``key`` for the current generation, else ``compute()`` (then stored)."""
    seconds = settings.SEARCH_RESULT_CACHE_SECONDS
    if seconds <= 0:
        return compute()
    client = cache_client()
    try:
        current, stored = client.mget([GENERATION_KEY, key])
        generation = current if isinstance(current, bytes) else None
        if generation is not None and isinstance(stored, bytes):
            stamp, _, body = stored.partition(b"\n")
            if stamp == generation:
                RESULT_CACHE_LOOKUPS.labels(result="hit").inc()
                found: dict[str, Any] = json.loads(body)
                return found
        RESULT_CACHE_LOOKUPS.labels(result="miss").inc()
        if generation is None:  # never set, or evicted: a new one, unless another process was first
            fresh = _new_generation()
            generation = fresh if client.set(GENERATION_KEY, fresh, nx=True) else None
    except redis.RedisError as exc:
        RESULT_CACHE_LOOKUPS.labels(result="error").inc()
        warn_limited(logger, "redis", "search result cache unavailable: %s", exc)
        return compute()
    response = compute()
    if generation is None:
        return response  # another process set the generation, maybe after a change this did not see
    try:
        # Stamped with the generation read before computing: a change meanwhile makes it stale at once.
        client.set(key, generation + b"\n" + json.dumps(response).encode(), ex=seconds)
    except redis.RedisError as exc:
        warn_limited(logger, "redis", "search result cache unavailable: %s", exc)
    return response


def _new_generation() -> bytes:
    return uuid.uuid4().hex.encode()
