"""/metrics tells how far the catalog is behind AIC and what waits to be embedded, for alerts that
watch a site nobody looks at for months."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from catalog.models import SyncRun
from embeddings.models import EmbeddingModel
from museum_site.tests.sync_state_rows import active_model, artwork, embedded, failure, sync_run

H = timedelta(hours=1)


def _samples(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_it_reports_the_lag_behind_the_source_and_the_last_complete_sync(client: Client, db: None) -> None:
    now = timezone.now()
    newest_at_source = now - 3 * H
    # The newest complete run's cursor is 2 h behind what the source last reported (the walk running now).
    sync_run(started_ago=8 * H, finished_ago=7 * H, status=SyncRun.Status.SUCCEEDED, cursor=now - 30 * H)
    sync_run(
        source="dump:/data/artworks",
        started_ago=5 * H,
        finished_ago=4 * H,
        status=SyncRun.Status.SUCCEEDED,
        cursor=newest_at_source - 2 * H,
    )
    sync_run(started_ago=H, status=SyncRun.Status.RUNNING, source_newest=newest_at_source)

    samples = _samples(client)
    assert samples[("museum_sync_lag_seconds", ())] == 2 * 3600
    assert samples[("museum_last_complete_sync_age_seconds", ())] == pytest.approx(4 * 3600, abs=60)


def test_the_lag_is_never_negative(client: Client, db: None) -> None:
    # The source reported its newest change before our cursor's (it was asked earlier, or an edit was
    # undone at AIC): caught up, not ahead.
    now = timezone.now()
    sync_run(
        started_ago=2 * H,
        finished_ago=H,
        status=SyncRun.Status.SUCCEEDED,
        source_newest=now - 5 * H,
        cursor=now - 4 * H,
    )
    assert _samples(client)[("museum_sync_lag_seconds", ())] == 0


def test_it_reports_the_oldest_artwork_still_waiting_for_a_vector(client: Client, db: None) -> None:
    model = active_model()
    other = EmbeddingModel.objects.create(name="next", architecture="micro", dimension=4)
    waiting_longest = artwork(updated_ago=5 * H)
    embedded(waiting_longest, other)  # a vector under another model does not count
    artwork(updated_ago=H)  # pending, but more recent
    embedded(artwork(updated_ago=10 * H), model)
    failure(artwork(updated_ago=9 * H), model, retry_in=timedelta(minutes=5))
    failure(artwork(updated_ago=9 * H), model, retry_in=None)
    artwork(updated_ago=8 * H, withdrawn=True)
    artwork(updated_ago=7 * H, image=False)

    age = _samples(client)[("museum_oldest_pending_artwork_age_seconds", ())]
    assert age == pytest.approx(5 * 3600, abs=60)


def test_the_oldest_pending_age_is_zero_when_nothing_waits(client: Client, db: None) -> None:
    model = active_model()
    embedded(artwork(updated_ago=10 * H), model)
    artwork(updated_ago=8 * H, image=False)
    assert _samples(client)[("museum_oldest_pending_artwork_age_seconds", ())] == 0


def test_it_counts_withdrawn_artworks_and_failures_by_what_happens_next(client: Client, db: None) -> None:
    model = active_model()
    failure(artwork(), model, retry_in=timedelta(minutes=10))
    failure(artwork(), model, retry_in=-timedelta(minutes=1))  # due: the sweep has not reached it yet
    failure(artwork(), model, retry_in=None)
    failure(artwork(withdrawn=True), model, retry_in=None)
    failure(artwork(image=False), model, retry_in=timedelta(minutes=10))
    artwork(withdrawn=True)

    samples = _samples(client)
    assert samples[("museum_artworks_withdrawn", ())] == 2
    assert samples[("museum_embedding_failures", (("kind", "awaiting_retry"), ("model", "watched")))] == 2
    assert samples[("museum_embedding_failures", (("kind", "permanent"), ("model", "watched")))] == 1


def test_before_any_sync_there_is_no_lag_to_report(client: Client, db: None) -> None:
    samples = _samples(client)
    assert ("museum_sync_lag_seconds", ()) not in samples
    assert ("museum_last_complete_sync_age_seconds", ()) not in samples
    assert samples[("museum_artworks_withdrawn", ())] == 0
