"""A harvest walk longer than one task: checkpointed after every page, continued from there."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from catalog.harvest import import_dump, sync_from_api
from catalog.models import Artwork, SyncRun
from conftest import SAMPLE_DIR

pytestmark = pytest.mark.django_db(transaction=True)


def _pages_asked(aic: Any) -> list[int]:
    return [int(r.query.get("page", 1)) for r in aic.requests if r.path == "/api/v1/artworks" and "ids" not in r.query]


def test_a_walk_cut_by_its_budget_goes_on_from_the_next_page(aic: Any, settings: Any) -> None:
    settings.AIC_PAGE_SIZE = 50
    pages = -(-len(aic.records) // 50)
    runs = []
    while True:
        run = sync_from_api(budget_seconds=0.0)  # every call stops after one page
        runs.append(run)
        if run.status != SyncRun.Status.RUNNING:
            break
        assert run.cursor is None and SyncRun.last_cursor() is None  # the cursor waits for the end
        assert run.page == len(runs) and run.total_pages == pages
    assert len(runs) == pages
    assert {run.pk for run in runs} == {runs[0].pk}  # one walk, continued
    assert _pages_asked(aic) == list(range(1, pages + 1))  # no page read twice
    final = SyncRun.objects.get(pk=runs[0].pk)
    assert final.status == SyncRun.Status.SUCCEEDED and final.tasks == pages
    assert final.seen == final.created == Artwork.objects.count() == len(aic.records)
    assert final.cursor is not None and final.cursor == final.newest_seen == final.source_newest


def test_a_walk_whose_process_died_is_continued_by_the_command(aic: Any, settings: Any) -> None:
    settings.AIC_PAGE_SIZE = 50
    first = sync_from_api(budget_seconds=0.0)
    assert first.status == SyncRun.Status.RUNNING and first.page == 1
    call_command("sync_aic", "--no-progress")
    first.refresh_from_db()
    assert first.status == SyncRun.Status.SUCCEEDED and first.tasks == 2
    assert first.total_pages is not None and _pages_asked(aic) == list(range(1, first.total_pages + 1))
    assert Artwork.objects.count() == len(aic.records)


def test_a_walk_that_failed_midway_continues_where_it_failed(aic: Any, settings: Any) -> None:
    settings.AIC_PAGE_SIZE = 50
    settings.AIC_MAX_RETRIES = 1
    sync_from_api(budget_seconds=0.0)
    sync_from_api(budget_seconds=0.0)
    aic.inject("500", path_prefix="/api/v1/artworks", times=2)
    failed = sync_from_api()
    assert failed.status == SyncRun.Status.FAILED and failed.page == 2 and failed.cursor is None
    assert "page 3" in failed.errors[-1]["reason"]
    done = sync_from_api()
    assert done.pk == failed.pk and done.status == SyncRun.Status.SUCCEEDED
    asked = _pages_asked(aic)
    assert asked.count(1) == 1 and asked.count(2) == 1  # stored pages are not fetched again
    assert Artwork.objects.count() == len(aic.records)


def test_a_full_walk_asked_while_an_incremental_one_is_unfinished_follows_it(aic: Any, settings: Any) -> None:
    sync_from_api()
    settings.AIC_PAGE_SIZE = 50
    record = dict(aic.records[28560])
    record.update(updated_at="2031-01-01T00:00:00+00:00")
    aic.upsert_record(record)
    incremental = sync_from_api(budget_seconds=0.0)
    assert not incremental.full
    run = sync_from_api(full=True)
    incremental.refresh_from_db()
    assert incremental.status == SyncRun.Status.SUCCEEDED
    assert run.pk != incremental.pk and run.full and run.status == SyncRun.Status.SUCCEEDED
    assert run.seen == len(aic.records)


def test_a_dump_import_sets_the_cursor_so_the_api_fetches_only_what_changed(aic: Any) -> None:
    dump = import_dump(SAMPLE_DIR / "records")
    assert dump.status == SyncRun.Status.SUCCEEDED
    newest = (
        Artwork.objects.exclude(aic_updated_at=None)
        .order_by("-aic_updated_at")
        .values_list("aic_updated_at", flat=True)
        .first()
    )
    assert dump.cursor == newest
    record = dict(aic.records[28560])
    record.update(title="Changed after the dump", updated_at="2031-01-01T00:00:00+00:00")
    aic.upsert_record(record)
    run = sync_from_api()
    assert run.status == SyncRun.Status.SUCCEEDED and run.cursor_start == newest
    assert (run.updated, run.created) == (1, 0)
    assert len(_pages_asked(aic)) == 1
    assert Artwork.objects.get(aic_id=28560).title == "Changed after the dump"
