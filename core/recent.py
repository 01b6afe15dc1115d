"""A value computed at most once every few seconds per process: what probes and scrapers read often."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Recent(Generic[T]):
    """Keeps the last value ``compute`` returned, and returns it again while it is younger than
    ``seconds`` (0: never kept). A call that raises keeps nothing, so the next call tries again.
    Concurrent callers of an expired value wait for one computation instead of each running it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: tuple[float, T] | None = None

    def get(self, seconds: float, compute: Callable[[], T]) -> T:
        with self._lock:
            if self._value is not None and seconds > 0 and time.monotonic() - self._value[0] < seconds:
                return self._value[1]
            value = compute()
            self._value = (time.monotonic(), value)
            return value

    def clear(self) -> None:
        with self._lock:
            self._value = None
