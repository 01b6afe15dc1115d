"""HTTP client for the AIC public API: polite pacing, retries, and honest errors."""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings

from catalog.records import loads

logger = logging.getLogger(__name__)

_RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
_MAX_RETRY_AFTER_SECONDS = 300.0


class AICError(RuntimeError):
    """The API could not be read, after retries where retrying made sense."""


@dataclass
class AICClient:
    base_url: str
    user_agent: str
    requests_per_minute: float = 60.0
    timeout: float = 20.0
    max_retries: int = 5
    backoff: float = 1.0
    session: requests.Session = field(default_factory=requests.Session)
    requests_made: int = 0
    _next_request_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls) -> AICClient:
        return cls(
            base_url=settings.AIC_API_URL,
            user_agent=settings.AIC_CONTACT,
            requests_per_minute=settings.AIC_REQUESTS_PER_MINUTE,
            timeout=settings.AIC_TIMEOUT_SECONDS,
            max_retries=settings.AIC_MAX_RETRIES,
            backoff=settings.AIC_BACKOFF_SECONDS,
        )

    def list_artworks(self, page: int, limit: int, fields: str) -> dict[str, Any]:
        """One page of ``/artworks`` (AIC lists them newest ``updated_at`` first)."""
        body = self.get_json("/artworks", {"page": page, "limit": limit, "fields": fields})
        if not isinstance(body.get("data"), list):
            raise AICError(f"/artworks page {page}: response has no 'data' list")
        return body

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        last_problem = ""
        for attempt in range(self.max_retries + 1):
            self._pace()
            retry_after: float | None = None
            try:
                response = self.session.get(
                    url,
                    params=params,
                    timeout=self.timeout,
                    headers={"AIC-User-Agent": self.user_agent, "Accept": "application/json"},
                )
            except requests.RequestException as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    try:
                        body = loads(response.content)
                    except ValueError:
                        snippet = response.text[:80].replace("\n", " ")
                        last_problem = f"response is not JSON ({response.headers.get('Content-Type')}): {snippet!r}"
                    else:
                        if isinstance(body, dict):
                            return body
                        last_problem = "response JSON is not an object"
                elif response.status_code in _RETRY_STATUSES:
                    last_problem = f"HTTP {response.status_code}"
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                else:
                    raise AICError(f"GET {path} {params or ''}: HTTP {response.status_code}: {response.text[:200]}")
            if attempt == self.max_retries:
                break
            delay = retry_after if retry_after is not None else self.backoff * (2**attempt) * random.uniform(0.5, 1.5)
            logger.warning("AIC GET %s failed (%s); retry %d in %.1fs", path, last_problem, attempt + 1, delay)
            time.sleep(delay)
        raise AICError(f"GET {path} {params or ''}: {last_problem} (after {self.max_retries + 1} attempts)")

    def _pace(self) -> None:
        """Keep to requests_per_minute; AIC throttles per client address."""
        interval = 60.0 / self.requests_per_minute
        with self._lock:
            now = time.monotonic()
            wait = self._next_request_at - now
            self._next_request_at = max(now, self._next_request_at) + interval
            self.requests_made += 1
        if wait > 0:
            time.sleep(wait)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped at 5 minutes."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_SECONDS)
