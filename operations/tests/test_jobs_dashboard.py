"""The curators' jobs dashboard: queue counts, pausing the harvest, retrying failures, schedules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django_celery_beat.models import PeriodicTask

from catalog.harvest import sync_from_api
from catalog.models import Artwork, SyncRun
from catalog.sync_status import HARVEST_SCHEDULE_NAME
from conftest import wait_until
from embeddings.indexing import index_counts
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel
from embeddings.pipeline import embed_artworks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def indexed(aic: Any, embedding_model: Any) -> list[Artwork]:
    # Harvest while no model is active: nothing is queued for a worker that would race these tests.
    EmbeddingModel.objects.filter(pk=embedding_model.pk).update(is_active=False)
    sync_from_api(limit=20)
    embedding_model.activate()
    artworks = list(Artwork.objects.exclude(image_id="").order_by("pk"))
    embed_artworks([a.pk for a in artworks], embedding_model)
    return artworks


def _fail(artwork: Artwork, model: Any) -> None:
    """Make ``artwork`` look like an embedding that failed earlier (a transient IIIF error, say)."""
    ArtworkEmbedding.objects.filter(artwork=artwork, model=model).delete()
    EmbeddingFailure.objects.create(artwork=artwork, model=model, image_id=artwork.image_id, reason="IIIF HTTP 503")


def test_it_shows_the_harvest_and_embedding_counts(
    admin_client: Client, indexed: list[Artwork], embedding_model: Any
) -> None:
    _fail(indexed[0], embedding_model)
    response = admin_client.get("/admin/jobs/")
    assert response.status_code == 200
    queues = {queue.name: queue for queue in response.context["queues"]}
    counts = index_counts(embedding_model)
    embedding = queues["Embedding (micro)"]
    assert (embedding.pending, embedding.failed, embedding.done) == (counts.pending, 1, counts.embedded)
    harvest = queues["Harvest"]
    assert harvest.done == SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED).count() == 1
    assert harvest.failed == 0 and harvest.running == 0
    html = response.content.decode()
    assert "Retry 1 failed embeddings" in html
    assert html.count('class="sync-run"') == 1


def test_harvesting_pauses_and_resumes(admin_client: Client, db: None) -> None:
    assert PeriodicTask.objects.get(name=HARVEST_SCHEDULE_NAME).enabled
    admin_client.post("/admin/jobs/action", {"action": "pause"})
    assert not PeriodicTask.objects.get(name=HARVEST_SCHEDULE_NAME).enabled
    assert 'id="harvest-state">paused' in admin_client.get("/admin/jobs/").content.decode()
    admin_client.post("/admin/jobs/action", {"action": "resume"})
    assert PeriodicTask.objects.get(name=HARVEST_SCHEDULE_NAME).enabled


def test_failed_embeddings_are_retried_by_a_worker(
    admin_client: Client, indexed: list[Artwork], embedding_model: Any, celery_worker: Any
) -> None:
    failed = indexed[:3]
    for artwork in failed:
        _fail(artwork, embedding_model)
    response = admin_client.post("/admin/jobs/action", {"action": "retry_embeddings"}, follow=True)
    assert "Queued 3 failed artworks again" in response.content.decode()
    wait_until(lambda: ArtworkEmbedding.objects.filter(artwork__in=failed).count() == 3, timeout=60)
    wait_until(lambda: not EmbeddingFailure.objects.exists(), timeout=10)


def test_the_harvest_schedule_comes_from_settings_and_beat_follows_admin_edits(
    admin_client: Client, db: None, settings: Any
) -> None:
    from django_celery_beat.schedulers import DatabaseScheduler

    from museum_site.celery import app

    task = PeriodicTask.objects.select_related("interval").get(name=HARVEST_SCHEDULE_NAME)
    assert task.task == "catalog.tasks.sync_aic_task"
    assert task.interval.every == settings.AIC_SYNC_INTERVAL_SECONDS and task.interval.period == "seconds"
    beat = DatabaseScheduler(app=app, lazy=True)
    assert beat.all_as_schedule()[HARVEST_SCHEDULE_NAME].schedule.run_every == timedelta(seconds=3600)

    # A curator edits the interval in the admin; beat reads the new one.
    changelist = admin_client.get("/admin/django_celery_beat/periodictask/")
    assert changelist.status_code == 200 and HARVEST_SCHEDULE_NAME in changelist.content.decode()
    task.interval.every = 120
    task.interval.save()
    beat = DatabaseScheduler(app=app, lazy=True)
    assert beat.all_as_schedule()[HARVEST_SCHEDULE_NAME].schedule.run_every == timedelta(seconds=120)


def test_only_staff_see_the_dashboard(client: Client, django_user_model: Any) -> None:
    assert client.get("/admin/jobs/").status_code == 302
    django_user_model.objects.create_user("visitor", password="a long visitor password")
    client.login(username="visitor", password="a long visitor password")
    assert client.get("/admin/jobs/")["Location"].startswith("/admin/login/")
    assert client.post("/admin/jobs/action", {"action": "pause"})["Location"].startswith("/admin/login/")


def test_the_admin_index_links_to_the_dashboard(admin_client: Client, db: None) -> None:
    assert 'href="/admin/jobs/"' in admin_client.get("/admin/").content.decode()
