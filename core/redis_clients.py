"""Redis clients: one per (URL, timeout) in a process, with the patience each caller can afford.

A client holds a connection pool and is safe to share between threads (redis-py also opens new
connections after a fork), so every caller asks here instead of building its own.
"""

from __future__ import annotations

import threading

import redis

# A web request's cache read or budget spend: a slow Redis must cost a request less than what it saves.
REQUEST_TIMEOUT_SECONDS = 0.25
# An operator's page or a metrics scrape: worth a moment, never a hung page.
OPERATOR_TIMEOUT_SECONDS = 2.0
# Background work (workers, beat's sweep): nobody is waiting, and giving up early costs a retry.
WORKER_TIMEOUT_SECONDS = 5.0

_clients: dict[tuple[str, float], redis.Redis] = {}
_clients_lock = threading.Lock()


def redis_client(url: str, *, timeout: float) -> redis.Redis:
    """The process's client for ``url`` whose connects and commands give up after ``timeout`` seconds."""
    key = (url, timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
            _clients[key] = client
        return client
