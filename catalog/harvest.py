"""Harvest runs: page through the AIC API, or read a data dump, into the catalog.

Only one run works at a time (a PostgreSQL advisory lock, released by the server
if the process dies), and every run leaves a SyncRun that tells what happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from catalog.aic_client import AICClient, AICError
from catalog.ingest import IngestCounts, ingest_records
from catalog.models import SyncRun
from catalog.records import AIC_FIELDS, loads, record_updated_at

logger = logging.getLogger(__name__)

_HARVEST_LOCK_KEY = 7_301_001  # any constant shared by every harvest process


@contextmanager
def harvest_lock() -> Iterator[bool]:
    """Yield whether this process holds the harvest lock."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_HARVEST_LOCK_KEY])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_HARVEST_LOCK_KEY])


def sync_from_api(
    *,
    full: bool = False,
    limit: int | None = None,
    client: AICClient | None = None,
    progress: Callable[[SyncRun], None] | None = None,
) -> SyncRun:
    """Harvest new and changed artworks, newest first, down to the last run's cursor.

    ``full`` ignores the cursor; ``limit`` stops after that many records (and then keeps the old
    cursor, since older changes were not reached). ``progress`` is called with the run after each page.
    """
    client = client or AICClient.from_settings()
    cursor_start = None if full else SyncRun.last_cursor()
    run = SyncRun.objects.create(source="api", full=full, cursor_start=cursor_start)
    with harvest_lock() as acquired:
        if not acquired:
            return _finish(run, SyncRun.Status.SKIPPED, IngestCounts(), cursor=cursor_start)
        counts = IngestCounts()
        newest: datetime | None = None
        complete = False
        try:
            page = 1
            while True:
                body = client.list_artworks(page, settings.AIC_PAGE_SIZE, AIC_FIELDS)
                run.requests = client.requests_made
                records: list[Any] = []
                reached_cursor = False
                for record in body["data"]:
                    updated_at = record_updated_at(record)
                    if cursor_start is not None and updated_at is not None and updated_at < cursor_start:
                        reached_cursor = True
                        break
                    if limit is not None and counts.seen + len(records) >= limit:
                        break
                    if updated_at is not None and (newest is None or updated_at > newest):
                        newest = updated_at
                    records.append(record)
                ingest_records(records, counts)
                _save_progress(run, counts)
                if progress is not None:
                    progress(run)
                next_url = (body.get("pagination") or {}).get("next_url")
                if reached_cursor or not next_url or not body["data"]:
                    complete = True
                    break
                if limit is not None and counts.seen >= limit:
                    break
                page += 1
        except AICError as exc:
            counts.errors.append({"aic_id": None, "reason": str(exc)})
            run.requests = client.requests_made
            return _finish(run, SyncRun.Status.FAILED, counts, cursor=cursor_start)
        except Exception as exc:
            logger.exception("harvest run %s crashed", run.pk)
            counts.errors.append({"aic_id": None, "reason": f"{type(exc).__name__}: {exc}"})
            return _finish(run, SyncRun.Status.FAILED, counts, cursor=cursor_start)
        run.requests = client.requests_made
        cursor = _next_cursor(cursor_start, newest, counts) if complete else cursor_start
        status = SyncRun.Status.PARTIAL if counts.failed else SyncRun.Status.SUCCEEDED
        return _finish(run, status, counts, cursor=cursor)


def import_dump(folder: Path, *, limit: int | None = None, progress: Callable[[int], None] | None = None) -> SyncRun:
    """Import a data-dump folder of ``<id>.json`` files (each one artwork record).

    ``progress`` is called with the number of files read so far, as they are read.
    """
    folder = folder.resolve()
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
        try:
            ingest_records(_read_dump_files(files, counts, progress), counts)
        except Exception as exc:
            logger.exception("dump import %s crashed", run.pk)
            counts.errors.append({"aic_id": None, "reason": f"{type(exc).__name__}: {exc}"})
            return _finish(run, SyncRun.Status.FAILED, counts, cursor=None)
        status = SyncRun.Status.PARTIAL if counts.failed else SyncRun.Status.SUCCEEDED
        return _finish(run, status, counts, cursor=None)


def _read_dump_files(
    files: list[Path], counts: IngestCounts, progress: Callable[[int], None] | None = None
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
        yield record


def _next_cursor(cursor_start: datetime | None, newest: datetime | None, counts: IngestCounts) -> datetime | None:
    """Advance to the newest record seen, but never past a record that failed."""
    if counts.failed_updated_at:
        oldest_failed = min(counts.failed_updated_at)
        return oldest_failed if cursor_start is None or oldest_failed > cursor_start else cursor_start
    if counts.failed:
        # A failed record without a readable updated_at: keep the old cursor so it is reached again.
        return cursor_start
    return newest or cursor_start


def _save_progress(run: SyncRun, counts: IngestCounts) -> None:
    _copy_counts(run, counts)
    run.save(update_fields=["requests", "seen", "created", "updated", "unchanged", "failed", "errors"])


def _copy_counts(run: SyncRun, counts: IngestCounts) -> None:
    run.seen, run.created, run.updated = counts.seen, counts.created, counts.updated
    run.unchanged, run.failed, run.errors = counts.unchanged, counts.failed, counts.errors


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
