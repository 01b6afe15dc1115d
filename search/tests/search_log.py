"""What the search log tests read: the Redis buffer as items, and what a search page offers to click."""

from __future__ import annotations

import json
import re
from typing import Any

from search import log

SEARCH_ID = re.compile(r'data-search-id="([0-9a-f]{32})"')
RESULT_LINK = re.compile(r'data-aic-id="(\d+)" data-rank="(\d+)"')
CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def empty_buffer(redis_client: Any) -> None:
    redis_client.delete(log.BUFFER_KEY, log.FLUSHING_KEY, log.LOCK_KEY)


def buffered(redis_client: Any) -> list[dict[str, Any]]:
    """The buffer's items, oldest first."""
    return [json.loads(raw) for raw in reversed(redis_client.lrange(log.BUFFER_KEY, 0, -1))]


def search_id_of(html: str) -> str:
    found = SEARCH_ID.search(html)
    assert found, "the results carry no search id"
    return found[1]


def result_links(html: str) -> list[tuple[int, int]]:
    """(artwork id, rank) of each result link, in page order."""
    return [(int(aic_id), int(rank)) for aic_id, rank in RESULT_LINK.findall(html)]


def csrf_token_of(html: str) -> str:
    found = CSRF_TOKEN.search(html)
    assert found, "the page holds no CSRF token"
    return found[1]
