"""Query vectors cached in Redis, keyed by (model, normalised query), so a repeated query skips the text tower.

Every web process shares the cache. A vector is stored as raw float32 bytes for
SEARCH_QUERY_CACHE_SECONDS. When Redis cannot be reached the query is embedded as if the
cache were empty: a cache outage slows search down but never breaks it.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import redis
from django.conf import settings

from core.logging_limits import warn_limited
from core.redis_clients import REQUEST_TIMEOUT_SECONDS, redis_client
from embeddings.encoders.per_process import get_text_encoder
from embeddings.models import EmbeddingModel
from search.metrics import QUERY_CACHE_LOOKUPS, TEXT_TOWER_SECONDS

logger = logging.getLogger(__name__)

_KEY_PREFIX = "museum:query-vector:v1"
_encoding_threads: tuple[int, ThreadPoolExecutor] | None = None  # (pid, pool): a forked child starts its own
_encoding_threads_lock = threading.Lock()
# The vectors one request has already embedded or read, by key: its search and its facet counts
# ask for the same query's vector, which should cost one lookup (and, with Redis away, one encoding).
_request_vectors: contextvars.ContextVar[dict[str, np.ndarray] | None] = contextvars.ContextVar(
    "request_vectors", default=None
)


@contextmanager
def vectors_kept_for_the_request() -> Iterator[None]:
    """Within the block, a query embedded once is not looked up or encoded again."""
    token = _request_vectors.set({})
    try:
        yield
    finally:
        _request_vectors.reset(token)


def normalise_query(query: str) -> str:
    """Whitespace collapsed and lower-cased, as CLIP's tokenizer reads text anyway."""
    return " ".join(query.split()).lower()


def cache_key(model: EmbeddingModel, query: str) -> str:
    """The key of ``query``'s vector under ``model``: its weights, not just its name, are in it."""
    weights = hashlib.sha256(f"{model.architecture}\0{model.pretrained}\0{model.dimension}".encode()).hexdigest()
    text = hashlib.sha256(normalise_query(query).encode()).hexdigest()
    return f"{_KEY_PREFIX}:{model.pk}:{weights[:16]}:{text}"


def cache_client() -> redis.Redis:
    """The Redis client of the search caches (SEARCH_QUERY_CACHE_URL), shared by the threads of a process."""
    return redis_client(settings.SEARCH_QUERY_CACHE_URL, timeout=REQUEST_TIMEOUT_SECONDS)


def _read(key: str, dimension: int) -> np.ndarray | None:
    try:
        data = cache_client().get(key)
    except redis.RedisError as exc:
        QUERY_CACHE_LOOKUPS.labels(result="error").inc()
        warn_limited(logger, "redis", "query vector cache unavailable: %s", exc)
        return None
    if not isinstance(data, bytes) or len(data) != dimension * 4:
        QUERY_CACHE_LOOKUPS.labels(result="miss").inc()
        return None
    QUERY_CACHE_LOOKUPS.labels(result="hit").inc()
    return np.frombuffer(data, dtype=np.float32).copy()


def _write(key: str, vector: np.ndarray) -> None:
    try:
        cache_client().set(key, vector.astype(np.float32).tobytes(), ex=settings.SEARCH_QUERY_CACHE_SECONDS)
    except redis.RedisError as exc:
        warn_limited(logger, "redis", "query vector cache unavailable: %s", exc)


def embed_query(model: EmbeddingModel, query: str) -> np.ndarray:
    """The L2-normalised text vector of ``query`` under ``model``, from the cache when it is there."""
    text = normalise_query(query)
    enabled = settings.SEARCH_QUERY_CACHE_SECONDS > 0
    key = cache_key(model, text)
    kept = _request_vectors.get()
    if kept is not None and key in kept:
        return kept[key]
    if enabled and (cached := _read(key, model.dimension)) is not None:
        vector = cached
    else:
        started = time.perf_counter()
        vector = np.asarray(get_text_encoder(model).encode([text])[0], dtype=np.float32)
        TEXT_TOWER_SECONDS.observe(time.perf_counter() - started)
        if enabled:
            _write(key, vector)
    if kept is not None:
        kept[key] = vector
    return vector


def embed_query_meanwhile(model: EmbeddingModel, query: str) -> Future[np.ndarray]:
    """``embed_query`` on one of this process's encoding threads, so the caller can query the database
    while the text tower runs (both release the GIL: ONNX Runtime, or PyTorch, and the socket wait)."""
    global _encoding_threads
    with _encoding_threads_lock:
        if _encoding_threads is None or _encoding_threads[0] != os.getpid():
            # More encodings at once than cores would only share the cores.
            pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="query-encoding")
            _encoding_threads = (os.getpid(), pool)
        pool = _encoding_threads[1]
    # The request's context goes along, so a vector the thread embeds is kept for the request.
    return pool.submit(contextvars.copy_context().run, embed_query, model, query)
