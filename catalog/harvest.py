"""Harvest runs: page through the AIC API, or read a data dump, into the catalog.

Only one run works at a time (a lease in Redis, which lapses if the process dies), and every run
leaves a SyncRun that tells what happened.

An API walk is longer than one task may run (the first walk of the whole collection takes
AIC's page limit times its request pacing): it saves a checkpoint after every page, stops at
its time budget, and the next harvest continues it from there, whatever ended the last one
(the budget, a time limit, a lost worker, a deploy). The cursor moves only when a walk has
reached it. A complete walk of everything (``full``, or the first one) is then reconciled:
records the source no longer lists are withdrawn (``catalog.withdrawals``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
import redis.lock
from django.conf import settings
from django.utils import timezone

from catalog.aic_client import AICClient, AICError
from catalog.ingest import IngestCounts, ingest_records
from catalog.models import SyncRun
from catalog.records import AIC_FIELDS, loads, record_updated_at
from catalog.withdrawals import mark_listed, reconcile
from core.redis_clients import WORKER_TIMEOUT_SECONDS, redis_client

logger = logging.getLogger(__name__)

_HARVEST_LOCK = "harvest-lock"  # the Redis key every harvest process takes
# How long a run's lease lasts unrenewed: a killed run holds off the next harvest this long at most.
_HARVEST_LEASE_SECONDS = 60


@contextmanager
def harvest_lock() -> Iterator[bool]:
    """Yield whether this process holds the harvest lock.

    The lock is a lease in Redis, renewed from a thread every third of its length while the run goes
    on: a run spans many transactions, on whichever server connection a pooler in transaction mode
    lends each one, so a PostgreSQL session lock would be taken on one connection and left on it
    (docs/database.md, PgBouncer). A Redis that cannot be reached raises, and the task is retried.
    """
    client = redis_client(settings.REDIS_URL, timeout=WORKER_TIMEOUT_SECONDS)
    # Not thread-local: the renewing thread holds the same token.
    lock = client.lock(_HARVEST_LOCK, timeout=_HARVEST_LEASE_SECONDS, thread_local=False)
    if not lock.acquire(blocking=False):
        yield False
        return
    stopped = threading.Event()
    renewal = threading.Thread(target=_renew, args=(lock, stopped), name="harvest-lease", daemon=True)
    renewal.start()
    try:
        yield True
    finally:
        stopped.set()
        renewal.join()
        try:
            lock.release()
        except redis.exceptions.LockError:
            logger.warning("the harvest lease had lapsed before the run ended")


def _renew(lock: redis.lock.Lock, stopped: threading.Event) -> None:
    while not stopped.wait(_HARVEST_LEASE_SECONDS / 3):
        try:
            lock.reacquire()
        except redis.exceptions.LockNotOwnedError:
            logger.error("the harvest lease lapsed while the run went on: another harvest may start")
            return
        except redis.RedisError:
            logger.warning("cannot renew the harvest lease in Redis", exc_info=True)


def sync_from_api(
    *,
    full: bool = False,
    limit: int | None = None,
    client: AICClient | None = None,
    progress: Callable[[SyncRun], None] | None = None,
    budget_seconds: float | None = None,
    allow_mass_withdrawal: bool = False,
) -> SyncRun:
    """Harvest new and changed artworks, newest first, down to the last run's cursor.

    An unfinished walk (one a time limit or a lost process stopped) is continued first, from its
    checkpoint; if it was not a full walk and ``full`` is asked, a full walk follows.
    ``full`` ignores the cursor and, once complete, withdraws what the source no longer lists;
    ``limit`` stops after that many records in a walk of its own (and then keeps the old cursor,
    since older changes were not reached). ``budget_seconds`` stops the walk after the page that
    crosses it: the run is returned still RUNNING, to be continued by the next call.
    ``progress`` is called with the run after each page.
    """
    client = client or AICClient.from_settings()
    deadline = None if budget_seconds is None or limit is not None else time.monotonic() + budget_seconds
    with harvest_lock() as acquired:
        if not acquired:
            skipped = SyncRun.objects.create(source="api", full=full, cursor_start=SyncRun.last_cursor())
            return _finish(skipped, SyncRun.Status.SKIPPED, IngestCounts(), cursor=skipped.cursor_start)
        unfinished = None if limit is not None else unfinished_walk()
        resumed = unfinished is not None
        run = unfinished or _new_walk(full)
        while True:
            _walk(run, client, limit, deadline, progress)
            if run.status == SyncRun.Status.RUNNING or not resumed or run.full or not full:
                break
            resumed = False
            run = _new_walk(full)  # the continued walk was incremental; the full one asked for follows
        if run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL) and run.full and limit is None:
            reconcile(run, client=client, allow_mass_withdrawal=allow_mass_withdrawal)
        return run


def unfinished_walk() -> SyncRun | None:
    """The API walk to continue: the newest API run, if it is still RUNNING (its process is gone: the
    caller holds the harvest lock) or FAILED after storing at least one page."""
    run = SyncRun.objects.filter(source="api").exclude(status=SyncRun.Status.SKIPPED).order_by("-pk").first()
    if run is None:
        return None
    if run.status == SyncRun.Status.RUNNING or (run.status == SyncRun.Status.FAILED and run.page > 0):
        return run
    return None


def _new_walk(full: bool) -> SyncRun:
    cursor_start = None if full else SyncRun.last_cursor()
    # A walk with no cursor lists the whole collection: it reconciles like a full one.
    return SyncRun.objects.create(source="api", full=full or cursor_start is None, cursor_start=cursor_start)


def _walk(
    run: SyncRun,
    client: AICClient,
    limit: int | None,
    deadline: float | None,
    progress: Callable[[SyncRun], None] | None,
) -> None:
    """Page on from ``run.page`` until the walk ends, fails, or passes ``deadline`` (left RUNNING)."""
    counts = _counts_of(run)
    if run.status != SyncRun.Status.RUNNING or run.page:
        logger.info("harvest %s continues after page %d of %s", run.pk, run.page, run.total_pages or "?")
    run.status = SyncRun.Status.RUNNING
    run.finished_at = None
    run.tasks += 1
    run.save(update_fields=["status", "finished_at", "tasks"])
    requests_before = client.requests_made
    requests_done = run.requests
    try:
        while True:
            page = run.page + 1
            body = client.list_artworks(page, settings.AIC_PAGE_SIZE, AIC_FIELDS)
            run.requests = requests_done + client.requests_made - requests_before
            pagination = body.get("pagination") or {}
            if isinstance(pagination.get("total_pages"), int):
                run.total_pages = pagination["total_pages"]
            records: list[Any] = []
            reached_cursor = False
            for record in body["data"]:
                updated_at = record_updated_at(record)
                if page == 1 and run.source_newest is None and updated_at is not None:
                    run.source_newest = updated_at  # the source lists its newest change first
                if run.cursor_start is not None and updated_at is not None and updated_at < run.cursor_start:
                    reached_cursor = True
                    break
                if limit is not None and counts.seen + len(records) >= limit:
                    break
                if updated_at is not None and (run.newest_seen is None or updated_at > run.newest_seen):
                    run.newest_seen = updated_at
                records.append(record)
            ingest_records(records, counts)
            run.restored += mark_listed(_record_ids(records), walk=run if run.full else None)
            run.page = page
            run.checkpoint_at = timezone.now()
            _save_progress(run, counts)
            if progress is not None:
                progress(run)
            if reached_cursor or not pagination.get("next_url") or not body["data"]:
                break
            if limit is not None and counts.seen >= limit:
                _finish(run, _outcome(counts), counts, cursor=run.cursor_start)  # older changes not reached
                return
            # Checked after a page, so that every task moves the walk on by one page at least.
            if deadline is not None and time.monotonic() >= deadline:
                logger.info("harvest %s pauses after page %d: its task's time is up", run.pk, run.page)
                return
    except AICError as exc:
        run.requests = requests_done + client.requests_made - requests_before
        counts.errors.append({"aic_id": None, "reason": f"page {run.page + 1}: {exc}"})
        _finish(run, SyncRun.Status.FAILED, counts, cursor=run.cursor_start)
        return
    except Exception as exc:
        logger.exception("harvest run %s crashed", run.pk)
        counts.errors.append({"aic_id": None, "reason": f"page {run.page + 1}: {type(exc).__name__}: {exc}"})
        _finish(run, SyncRun.Status.FAILED, counts, cursor=run.cursor_start)
        return
    _finish(run, _outcome(counts), counts, cursor=_next_cursor(run, counts))


def import_dump(
    folder: Path,
    *,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    full: bool = False,
    allow_mass_withdrawal: bool = False,
) -> SyncRun:
    """Import a data-dump folder of ``<id>.json`` files (each one artwork record).

    The run's cursor becomes the dump's newest ``updated_at``, so the next API harvest fetches only
    what changed since. ``full``: the dump is the whole collection, and artworks it lacks are
    withdrawn (unless ``limit`` cut it short). ``progress`` is called with the number of files read
    so far, as they are read.
    """
    folder = folder.resolve()
    # Every dump import is a bulk load (``run.full``: the keyword lists are rebuilt after it); only a
    # ``full`` one speaks for the whole collection.
    run = SyncRun.objects.create(source=f"dump:{folder}", full=True)
    if not folder.is_dir():
        counts = IngestCounts()
        counts.errors.append({"aic_id": None, "reason": f"{folder} is not a folder"})
        return _finish(run, SyncRun.Status.FAILED, counts, cursor=None)
    with harvest_lock() as acquired:
        if not acquired:
            return _finish(run, SyncRun.Status.SKIPPED, IngestCounts(), cursor=None)
        counts = IngestCounts()
        files = sorted(folder.glob("*.json"))
        if limit is not None:
            files = files[:limit]
        run.tasks = 1
        try:
            ingest_records(_read_dump_files(files, counts, run, progress), counts)
            listed = [int(path.stem) for path in files if path.stem.isdigit()]
            run.restored += mark_listed(listed, walk=run if full else None)
        except Exception as exc:
            logger.exception("dump import %s crashed", run.pk)
            counts.errors.append({"aic_id": None, "reason": f"{type(exc).__name__}: {exc}"})
            return _finish(run, SyncRun.Status.FAILED, counts, cursor=None)
        run.source_newest = run.newest_seen
        _finish(run, _outcome(counts), counts, cursor=_next_cursor(run, counts))
        if full and limit is None:
            reconcile(run, allow_mass_withdrawal=allow_mass_withdrawal)
        return run


def _read_dump_files(
    files: list[Path], counts: IngestCounts, run: SyncRun, progress: Callable[[int], None] | None = None
) -> Iterator[Any]:
    for done, path in enumerate(files, 1):
        if progress is not None:
            progress(done)
        try:
            record = loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            counts.seen += 1
            counts.quarantine({"id": path.stem}, f"{path.name}: {exc}")
            continue
        # The dump holds the API's `data` object; accept a whole response too.
        if isinstance(record, dict) and isinstance(record.get("data"), dict):
            record = record["data"]
        updated_at = record_updated_at(record)
        if updated_at is not None and (run.newest_seen is None or updated_at > run.newest_seen):
            run.newest_seen = updated_at
        yield record


def _record_ids(records: list[Any]) -> list[int]:
    ids = []
    for record in records:
        value = record.get("id") if isinstance(record, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31:
            ids.append(value)
    return ids


def _outcome(counts: IngestCounts) -> str:
    return SyncRun.Status.PARTIAL if counts.failed else SyncRun.Status.SUCCEEDED


def _counts_of(run: SyncRun) -> IngestCounts:
    """The counts a continued walk carries on from."""
    counts = IngestCounts(
        seen=run.seen,
        created=run.created,
        updated=run.updated,
        unchanged=run.unchanged,
        failed=run.failed,
        errors=list(run.errors),
    )
    if run.oldest_failed is not None:
        counts.failed_updated_at.append(run.oldest_failed)
    return counts


def _next_cursor(run: SyncRun, counts: IngestCounts) -> datetime | None:
    """Advance to the newest record seen, but never past a record that failed."""
    cursor_start = run.cursor_start
    if counts.failed_updated_at:
        oldest_failed = min(counts.failed_updated_at)
        return oldest_failed if cursor_start is None or oldest_failed > cursor_start else cursor_start
    if counts.failed:
        # A failed record without a readable updated_at: keep the old cursor so it is reached again.
        return cursor_start
    return run.newest_seen or cursor_start


def _save_progress(run: SyncRun, counts: IngestCounts) -> None:
    _copy_counts(run, counts)
    run.save(
        update_fields=[
            "requests",
            "seen",
            "created",
            "updated",
            "unchanged",
            "failed",
            "errors",
            "oldest_failed",
            "page",
            "total_pages",
            "newest_seen",
            "source_newest",
            "checkpoint_at",
            "restored",
        ]
    )


def _copy_counts(run: SyncRun, counts: IngestCounts) -> None:
    run.seen, run.created, run.updated = counts.seen, counts.created, counts.updated
    run.unchanged, run.failed, run.errors = counts.unchanged, counts.failed, counts.errors
    if counts.failed_updated_at:
        run.oldest_failed = min(counts.failed_updated_at)


def _finish(run: SyncRun, status: str, counts: IngestCounts, *, cursor: datetime | None) -> SyncRun:
    _copy_counts(run, counts)
    run.status = status
    run.cursor = cursor
    run.finished_at = timezone.now()
    run.save()
    logger.info(
        "harvest %s %s: seen=%d created=%d updated=%d unchanged=%d failed=%d requests=%d",
        run.source,
        status,
        run.seen,
        run.created,
        run.updated,
        run.unchanged,
        run.failed,
        run.requests,
    )
    return run
