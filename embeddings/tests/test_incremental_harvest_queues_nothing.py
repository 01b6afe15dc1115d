"""An incremental harvest that finds nothing changed asks AIC at most twice and queues no embedding task."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery.signals import before_task_publish

from catalog.harvest import sync_from_api
from catalog.models import SyncRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedding_queue]

EMBED_TASK = "embeddings.tasks.embed_artworks_task"


@pytest.fixture
def published(redis_client: Any) -> Iterator[list[str]]:
    """Names of the tasks sent to the broker (the real Redis broker) while the test runs."""
    from museum_site.celery import app

    names: list[str] = []

    def listener(sender: str | None = None, **kwargs: Any) -> None:
        names.append(str(sender))

    # A session worker may be running: it must not embed this test's batches behind later tests' backs.
    app.control.cancel_consumer("embed", reply=True, timeout=2)
    before_task_publish.connect(listener, weak=False)
    try:
        yield names
    finally:
        before_task_publish.disconnect(listener)
        redis_client.delete("embed")
        app.control.add_consumer("embed", reply=True, timeout=2)


def test_it_asks_at_most_twice_and_queues_no_embedding_task(
    aic: Any, embedding_model: Any, published: list[str]
) -> None:
    first = sync_from_api()
    assert first.status == SyncRun.Status.SUCCEEDED
    assert EMBED_TASK in published  # the first harvest did queue its images, through the same path
    published.clear()
    listing_before = aic.count("/api/v1/artworks")

    again = sync_from_api()

    assert again.status == SyncRun.Status.SUCCEEDED
    assert again.requests <= 2
    assert aic.count("/api/v1/artworks") - listing_before <= 2
    assert (again.created, again.updated) == (0, 0)
    assert EMBED_TASK not in published
    assert published == []
