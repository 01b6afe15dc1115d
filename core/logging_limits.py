"""Warnings about an outage that every request sees, logged at most once a minute with a count.

When Redis or the database is away, each request that reaches for it would log the same line;
a busy site would drown its log in them. ``warn_limited`` logs the first at once, then at most one
per ``every`` seconds for the same key, saying how many it held back meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

DEFAULT_EVERY_SECONDS = 60.0

_lock = threading.Lock()
# (logger name, key) -> (monotonic time of the last line logged, warnings held back since)
_state: dict[tuple[str, str], tuple[float, int]] = {}


def warn_limited(
    logger: logging.Logger, key: str, message: str, *args: Any, every: float = DEFAULT_EVERY_SECONDS
) -> bool:
    """Log ``message % args`` as a warning unless one with this ``key`` was logged less than ``every``
    seconds ago; True when it was logged. A line after a quiet spell says how many were held back."""
    now = time.monotonic()
    with _lock:
        last, held = _state.get((logger.name, key), (float("-inf"), 0))
        if now - last < every:
            _state[(logger.name, key)] = (last, held + 1)
            return False
        _state[(logger.name, key)] = (now, 0)
    if held:
        message += " (%d more like this in the last %.0f s)"
        args = (*args, held, now - last)
    logger.warning(message, *args)
    return True


def reset() -> None:
    """Forget every key (tests use it to see the first warning again)."""
    with _lock:
        _state.clear()


def age(seconds: float) -> None:
    """Make every key's last warning ``seconds`` older (tests use it to see the minute pass)."""
    with _lock:
        for key, (last, held) in _state.items():
            _state[key] = (last - seconds, held)
