"""The search log's writes: buffer a search or a click in Redis, move the buffer into PostgreSQL, expire old rows.

A search page or an /api/search answer pushes one small JSON item onto a capped Redis list (one round trip,
no database write on the request path); `search-log-flush` (search/tasks.py) stores the list in bulk, and
`search-log-retention` deletes what is older than SEARCH_LOG_DAYS. With SEARCH_LOG off nothing is pushed,
and a flush empties the buffer without storing it. Nothing that names a visitor is taken: no address, no
user agent, no user, no cookie (docs/security.md, Search log).
"""

from __future__ import annotations

import json
import logging
import re
import time
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.logging_limits import warn_limited
from core.redis_clients import REQUEST_TIMEOUT_SECONDS, WORKER_TIMEOUT_SECONDS, redis_client
from search.models_interleaving import credit_clicks, record_impressions
from search.models_log import SearchClick, SearchLogEntry

logger = logging.getLogger(__name__)

BUFFER_KEY = "search-log:buffer"
# The batch a flush is storing: it stays until stored, so a worker killed mid-flush loses nothing.
FLUSHING_KEY = "search-log:flushing"
# Held by the flush in progress: a second flush must not delete a batch the first has not stored.
LOCK_KEY = "search-log:flush-lock"
BULK_BATCH = 1000
MAX_RANK = 1_000_000
MAX_AIC_ID = 2_147_483_647

SEARCH = "search"
CLICK = "click"
PAGE = SearchLogEntry.Source.PAGE
API = SearchLogEntry.Source.API


def normalise_query(text: str) -> str:
    """The query as the log keeps it: one composed form of each character (accents kept), lower-cased,
    runs of whitespace made one space, none at the ends; so "Monet  Water" and "monet water" count as one."""
    return " ".join(unicodedata.normalize("NFC", text).lower().split())


def _push(item: dict[str, Any]) -> bool:
    """Push ``item`` onto the buffer, keeping its newest SEARCH_LOG_BUFFER_MAX items; False when Redis is
    away (a warning a minute at most: a search never fails for want of its log line)."""
    try:
        pipe = redis_client(settings.REDIS_URL, timeout=REQUEST_TIMEOUT_SECONDS).pipeline(transaction=False)
        pipe.lpush(BUFFER_KEY, json.dumps(item, separators=(",", ":")))
        pipe.ltrim(BUFFER_KEY, 0, settings.SEARCH_LOG_BUFFER_MAX - 1)
        pipe.execute()
    except redis.RedisError as exc:
        warn_limited(logger, "search-log", "search log entry dropped, Redis is unavailable: %s", exc)
        return False
    return True


def record_search(
    query: str,
    mode: str,
    filters: dict[str, str | int | bool | list[str]],
    result_count: int,
    page: int,
    source: SearchLogEntry.Source,
    interleaving: dict[str, int | str] | None = None,
) -> str:
    """Buffer one search; its new random id (what the page's result links carry), or '' when the log
    is off or Redis is away (then the page offers nothing to click-record). ``interleaving``: the
    experiment and the team of each position of an interleaved page (search/experiments.py)."""
    if not settings.SEARCH_LOG:
        return ""
    search_id = uuid.uuid4().hex
    item = {
        "kind": SEARCH,
        "id": search_id,
        "q": normalise_query(query),
        "mode": str(mode),
        "filters": filters,
        "count": result_count,
        "page": page,
        "source": str(source),
        "at": time.time(),
    }
    if interleaving is not None:
        item["interleaving"] = interleaving
    return search_id if _push(item) else ""


def parse_click(search_id: str, aic_id: str, rank: str) -> tuple[str, int, int] | None:
    """A click's fields as sent by a page (search id, artwork, rank), checked; None when any is malformed."""
    try:
        parsed_id = uuid.UUID(search_id).hex
        parsed_aic_id, parsed_rank = int(aic_id), int(rank)
    except ValueError:
        return None
    if not (0 < parsed_aic_id <= MAX_AIC_ID and 0 < parsed_rank <= MAX_RANK):
        return None
    return parsed_id, parsed_aic_id, parsed_rank


def record_click(search_id: str, aic_id: int, rank: int) -> bool:
    """Buffer that the result at ``rank`` (artwork ``aic_id``) of search ``search_id`` was opened; False
    when the log is off or Redis is away. A click naming no stored search is dropped by the flush."""
    if not settings.SEARCH_LOG:
        return False
    item = {"kind": CLICK, "id": uuid.uuid4().hex, "search": search_id, "aic_id": aic_id, "rank": rank}
    return _push({**item, "at": time.time()})


# --- The flush: from the Redis buffer into PostgreSQL, on a worker --------------------------------------


@dataclass(frozen=True)
class FlushCounts:
    searches: int = 0
    clicks: int = 0
    interleaved: int = 0  # interleaved searches kept (each an impression of its experiment)
    credited: int = 0  # clicks credited to an interleaving team
    dropped: int = 0  # malformed items, and clicks naming no stored search
    busy: bool = False  # another flush held the lock: this one did nothing

    def as_dict(self) -> dict[str, int | bool]:
        return asdict(self)


def _at(item: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(float(item["at"]), tz=UTC)


def _search_row(item: dict[str, Any]) -> SearchLogEntry:
    filters = item["filters"]
    if not isinstance(filters, dict):
        raise ValueError("filters is not an object")
    return SearchLogEntry(
        search_id=uuid.UUID(item["id"]),
        query=str(item["q"])[:1000],
        mode=str(item["mode"])[:16],
        filters=filters,
        result_count=int(item["count"]),
        page=int(item["page"]),
        source=SearchLogEntry.Source(item["source"]),
        created_at=_at(item),
    )


_TEAMS = re.compile(r"[AB]{1,200}")


def _interleaving(item: dict[str, Any]) -> tuple[int, str] | None:
    """The experiment and teams of an interleaved search's item; None for any other search."""
    found = item.get("interleaving")
    if found is None:
        return None
    experiment, teams = int(found["experiment"]), str(found["teams"])
    if not _TEAMS.fullmatch(teams):
        raise ValueError("teams is not a string of A and B")
    return experiment, teams


def _click_row(item: dict[str, Any]) -> SearchClick:
    return SearchClick(
        click_id=uuid.UUID(item["id"]),
        search_id=uuid.UUID(item["search"]),
        aic_id=int(item["aic_id"]),
        rank=int(item["rank"]),
        created_at=_at(item),
    )


def store(raw_items: Iterable[bytes | str]) -> FlushCounts:
    """Store buffered items (oldest first) in one transaction; a second store of the same items adds
    nothing (searches and clicks are keyed on their random ids), and counts no interleaving twice:
    only searches and clicks not stored before are counted."""
    searches: list[SearchLogEntry] = []
    clicks: list[SearchClick] = []
    interleaved: dict[uuid.UUID, tuple[int, str]] = {}
    dropped = 0
    for raw in raw_items:
        try:
            item = json.loads(raw)
            if item["kind"] == SEARCH:
                row, teams = _search_row(item), _interleaving(item)
                searches.append(row)
                if teams is not None:
                    interleaved[row.search_id] = teams
            elif item["kind"] == CLICK:
                clicks.append(_click_row(item))
            else:
                dropped += 1
        except (ValueError, TypeError, KeyError):
            dropped += 1
    with transaction.atomic():
        stored_before = set(
            SearchLogEntry.objects.filter(search_id__in=list(interleaved)).values_list("search_id", flat=True)
        )
        SearchLogEntry.objects.bulk_create(searches, batch_size=BULK_BATCH, ignore_conflicts=True)
        shown = record_impressions({key: value for key, value in interleaved.items() if key not in stored_before})
        wanted = {click.search_id for click in clicks}
        known = set(SearchLogEntry.objects.filter(search_id__in=wanted).values_list("search_id", flat=True))
        kept = [click for click in clicks if click.search_id in known]
        clicked_before = set(
            SearchClick.objects.filter(click_id__in=[click.click_id for click in kept]).values_list(
                "click_id", flat=True
            )
        )
        SearchClick.objects.bulk_create(kept, batch_size=BULK_BATCH, ignore_conflicts=True)
        credited = credit_clicks(click for click in kept if click.click_id not in clicked_before)
    return FlushCounts(
        searches=len(searches),
        clicks=len(kept),
        interleaved=shown,
        credited=credited,
        dropped=dropped + len(clicks) - len(kept),
    )


def flush() -> FlushCounts:
    """Move the buffer into the database. The batch is renamed aside first, so searches made meanwhile
    wait for the next flush, and deleted only once stored. With SEARCH_LOG off the buffer is emptied
    unstored: off means nothing more reaches the database."""
    client = redis_client(settings.REDIS_URL, timeout=WORKER_TIMEOUT_SECONDS)
    if not client.set(LOCK_KEY, "1", nx=True, ex=settings.CELERY_TASK_TIME_LIMIT):
        return FlushCounts(busy=True)
    try:
        if not settings.SEARCH_LOG:
            dropped = int(client.llen(BUFFER_KEY)) + int(client.llen(FLUSHING_KEY))
            client.delete(BUFFER_KEY, FLUSHING_KEY)
            return FlushCounts(dropped=dropped)
        # A batch left by a flush that was killed is stored first.
        if not client.exists(FLUSHING_KEY):
            if not client.exists(BUFFER_KEY):
                return FlushCounts()
            client.rename(BUFFER_KEY, FLUSHING_KEY)
        newest_first: list[bytes] = list(client.lrange(FLUSHING_KEY, 0, -1))  # type: ignore[arg-type]
        counts = store(reversed(newest_first))
        client.delete(FLUSHING_KEY)
        return counts
    finally:
        client.delete(LOCK_KEY)


def delete_expired(now: datetime | None = None) -> int:
    """Delete the searches older than SEARCH_LOG_DAYS, and their clicks; the number of searches deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.SEARCH_LOG_DAYS)
    with transaction.atomic():
        SearchClick.objects.filter(search__created_at__lt=cutoff).delete()
        deleted, _ = SearchLogEntry.objects.filter(created_at__lt=cutoff).delete()
    return deleted
