from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from catalog.harvest import sync_from_api
from catalog.models import Artwork, SyncRun

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_harvests_every_record_with_the_polite_headers(aic: Any, embedding_requests: list[int]) -> None:
    run = sync_from_api()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert Artwork.objects.count() == len(aic.records) == run.created
    with_image = Artwork.objects.exclude(image_id="").count()
    assert sorted(embedding_requests) == sorted(Artwork.objects.exclude(image_id="").values_list("pk", flat=True))
    assert len(embedding_requests) == with_image
    listing = [r for r in aic.requests if r.path == "/api/v1/artworks"]
    assert all(r.headers.get("AIC-User-Agent") for r in listing)
    assert all(r.query["limit"] == "100" and "image_id" in r.query["fields"] for r in listing)
    assert run.requests == len(listing) == -(-len(aic.records) // 100)


def test_it_stops_at_the_cursor_when_nothing_changed(aic: Any, embedding_requests: list[int]) -> None:
    sync_from_api()
    embedding_requests.clear()
    before = aic.count("/api/v1/artworks")
    run = sync_from_api()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert aic.count("/api/v1/artworks") - before <= 2
    assert run.created == run.updated == 0
    assert embedding_requests == []


def test_it_updates_a_changed_record_and_reembeds_only_a_new_image(aic: Any, embedding_requests: list[int]) -> None:
    sync_from_api()
    embedding_requests.clear()
    record = dict(aic.records[28560])
    record.update(title="The Bedroom (retitled)", updated_at="2030-01-01T00:00:00+00:00")
    aic.upsert_record(record)
    run = sync_from_api()
    assert (run.updated, run.created) == (1, 0)
    assert Artwork.objects.get(aic_id=28560).title == "The Bedroom (retitled)"
    assert embedding_requests == []  # same image: the vector still holds

    record.update(image_id="0000aaaa-new-image", updated_at="2030-01-02T00:00:00+00:00")
    aic.upsert_record(record)
    sync_from_api()
    assert embedding_requests == [Artwork.objects.get(aic_id=28560).pk]


def test_it_keeps_the_old_cursor_when_a_limit_cut_the_run_short(aic: Any) -> None:
    first = sync_from_api(limit=10)
    assert first.seen == 10 and first.cursor is None
    assert Artwork.objects.count() == 10


def test_the_command_prints_the_run(aic: Any, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("sync_aic", "--limit", "5")
    assert "succeeded: seen 5, created 5" in capsys.readouterr().out
