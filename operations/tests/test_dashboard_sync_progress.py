"""The jobs dashboard shows an operator whether the collection keeps up with AIC: the walk in progress,
the last complete sync and the lag, and the artworks withdrawn or whose embedding failed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.test import Client
from django.utils import timezone

from catalog.models import SyncRun
from embeddings.models import EmbeddingModel
from museum_site.tests.sync_state_rows import active_model, artwork, embedded, failure, sync_run

H = timedelta(hours=1)


def _section(admin_client: Client, element_id: str) -> str:
    """The inner HTML of the dashboard's element with this id (a <p> or a <td>)."""
    html = admin_client.get("/admin/jobs/").content.decode()
    opening = html.rindex("<", 0, html.index(f'id="{element_id}"'))
    tag = html[opening + 1 : html.index(" ", opening)]
    inner = html.index(">", opening) + 1
    return html[inner : html.index(f"</{tag}>", inner)]


def test_it_shows_the_walk_in_progress_with_its_rate_and_time_left(
    admin_client: Client, db: None, settings: Any
) -> None:
    settings.AIC_PAGE_SIZE = 100
    # 40 of 100 pages, 4,000 records in the 400 s from the walk's start to its last page: 10 records/s,
    # and 60 pages of 100 records left at that rate take 600 s.
    run = sync_run(
        started_ago=timedelta(seconds=400),
        status=SyncRun.Status.RUNNING,
        full=True,
        page=40,
        total_pages=100,
        seen=4000,
        tasks=2,
    )
    SyncRun.objects.filter(pk=run.pk).update(checkpoint_at=run.started_at + timedelta(seconds=400))

    walk = _section(admin_client, "sync-walk")
    assert f">{run.pk}</a> (full)" in walk
    assert "page <strong>40</strong> of <strong>100</strong>, 4000 records" in walk
    assert "<strong>10.0</strong> records/s" in walk
    assert "about <strong>10 min</strong> left" in walk
    assert "worked on by 2 tasks" in walk
    html = admin_client.get("/admin/jobs/").content.decode()
    assert '<progress class="jobs-progress" max="100" value="40">' in html


def test_a_walk_before_its_first_page_has_no_rate_yet(admin_client: Client, db: None) -> None:
    sync_run(started_ago=timedelta(seconds=5), status=SyncRun.Status.RUNNING, tasks=1)
    walk = _section(admin_client, "sync-walk")
    assert "page <strong>0</strong> of <strong>?</strong>" in walk
    assert "records/s" not in walk and "left" not in walk
    assert "no page stored yet" in walk


def test_it_shows_the_last_complete_sync_of_any_source_and_the_lag(admin_client: Client, db: None) -> None:
    now = timezone.now()
    newest_at_source = now - 10 * H
    # An API harvest finished 5 h ago, then a dump import 3 h ago (it set the cursor to its newest
    # record); a failed harvest since and the walk running now do not count as complete.
    sync_run(started_ago=6 * H, finished_ago=5 * H, status=SyncRun.Status.SUCCEEDED, cursor=now - 20 * H)
    dump = sync_run(
        source="dump:/data/artworks",
        started_ago=4 * H,
        finished_ago=3 * H,
        status=SyncRun.Status.PARTIAL,
        cursor=newest_at_source - timedelta(hours=2, minutes=30),
    )
    sync_run(started_ago=2 * H, finished_ago=2 * H, status=SyncRun.Status.FAILED)
    sync_run(started_ago=timedelta(minutes=10), status=SyncRun.Status.RUNNING, source_newest=newest_at_source, page=3)

    last = _section(admin_client, "sync-last-complete")
    assert f">{dump.pk}</a> (dump:/data/artworks)" in last
    assert "<strong>3 h</strong> ago" in last
    assert _section(admin_client, "sync-lag").strip() == "2 h 30 min"


def test_it_counts_withdrawn_artworks_and_failures_awaiting_retry_or_permanent(admin_client: Client, db: None) -> None:
    model = active_model()
    replaced = EmbeddingModel.objects.create(name="replaced", architecture="micro", dimension=4)
    failure(artwork(), replaced, retry_in=None)  # another model's failure: not the live index's
    for _ in range(2):
        failure(artwork(), model, retry_in=timedelta(minutes=30))  # awaiting the sweep
    failure(artwork(), model, retry_in=None)  # failed for good
    failure(artwork(withdrawn=True), model, retry_in=timedelta(minutes=30))  # withdrawn: left out
    failure(artwork(withdrawn=True), model, retry_in=None)  # withdrawn: left out
    failure(artwork(image=False), model, retry_in=None)  # no image any more: nothing to embed
    succeeded_since = artwork()
    failure(succeeded_since, model, retry_in=None)
    embedded(succeeded_since, model)  # a vector now: not failed
    artwork(withdrawn=True)

    assert _section(admin_client, "sync-withdrawn").strip() == "3"
    assert _section(admin_client, "failures-awaiting-retry").strip() == "2"
    assert _section(admin_client, "failures-permanent").strip() == "1"


def test_before_any_sync_it_says_so(admin_client: Client, db: None) -> None:
    assert "No harvest walk is running." in _section(admin_client, "sync-walk")
    assert _section(admin_client, "sync-last-complete").strip() == "none yet"
    assert "unknown" in _section(admin_client, "sync-lag")
