"""Records the source no longer lists are withdrawn after a complete walk, and restored if listed again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import Client

from catalog.harvest import import_dump, sync_from_api
from catalog.models import Artwork, SyncRun
from catalog.withdrawals import reconcile
from conftest import SAMPLE_DIR
from embeddings.images.iiif_cache import ImageCache
from embeddings.models import ArtworkEmbedding, EmbeddingFailure
from embeddings.pipeline import upsert_vectors

pytestmark = pytest.mark.django_db(transaction=True)

GONE = [28560, 27992]


def _vectors_for(model: Any, aic_ids: list[int]) -> None:
    artworks = list(Artwork.objects.filter(aic_id__in=aic_ids))
    rng = np.random.default_rng(0)
    upsert_vectors(model, [(artwork, rng.standard_normal(model.dimension).astype(np.float32)) for artwork in artworks])


def _withdrawn() -> set[int]:
    return set(Artwork.objects.exclude(withdrawn_at=None).values_list("aic_id", flat=True))


def test_a_full_walk_withdraws_what_the_source_no_longer_lists(aic: Any, embedding_model: Any) -> None:
    sync_from_api()
    _vectors_for(embedding_model, GONE)
    gone_pks = list(Artwork.objects.filter(aic_id__in=GONE).values_list("pk", flat=True))
    EmbeddingFailure.objects.create(artwork_id=gone_pks[0], model=embedding_model, reason="old failure")
    cache = ImageCache.from_settings()
    cached = [
        cache.fetch(image_id) for image_id in Artwork.objects.filter(aic_id__in=GONE).values_list("image_id", flat=True)
    ]
    assert cached and all(path.exists() for path in cached)
    for aic_id in GONE:
        aic.remove_record(aic_id)

    incremental = sync_from_api()
    assert incremental.withdrawn == 0 and _withdrawn() == set()  # only a complete walk withdraws

    run = sync_from_api(full=True)
    assert run.status == SyncRun.Status.SUCCEEDED and run.withdrawn == 2
    assert _withdrawn() == set(GONE)
    assert not ArtworkEmbedding.objects.filter(artwork_id__in=gone_pks).exists()
    assert not EmbeddingFailure.objects.filter(artwork_id__in=gone_pks).exists()
    assert not any(path.exists() for path in cached)
    assert Artwork.objects.filter(withdrawn_at=None).count() == len(aic.records)


def test_a_withdrawn_record_listed_again_is_restored_with_its_curation(aic: Any, embedding_requests: list[int]) -> None:
    sync_from_api()
    Artwork.objects.filter(aic_id=GONE[0]).update(is_hidden=True, curator_note="kept")
    record = aic.records[GONE[0]]
    aic.remove_record(GONE[0])
    sync_from_api(full=True)
    assert _withdrawn() == {GONE[0]}
    embedding_requests.clear()

    aic.upsert_record(record)  # listed again, unchanged: older than the cursor, so the next full walk finds it
    assert sync_from_api().restored == 0
    run = sync_from_api(full=True)
    artwork = Artwork.objects.get(aic_id=GONE[0])
    assert run.restored == 1 and artwork.withdrawn_at is None
    assert artwork.is_hidden and artwork.curator_note == "kept"
    assert embedding_requests == [artwork.pk]  # its vectors went: it is embedded again

    aic.remove_record(GONE[0])
    sync_from_api(full=True)
    assert _withdrawn() == {GONE[0]}
    aic.upsert_record({**record, "updated_at": "2031-01-01T00:00:00+00:00"})  # listed again as a change
    assert sync_from_api().restored == 1 and _withdrawn() == set()


def test_a_walk_that_did_not_finish_withdraws_nothing(aic: Any, settings: Any) -> None:
    sync_from_api()
    aic.remove_record(GONE[0])
    settings.AIC_PAGE_SIZE = 50
    settings.AIC_MAX_RETRIES = 0
    cut = sync_from_api(full=True, budget_seconds=0.0)
    assert cut.status == SyncRun.Status.RUNNING and _withdrawn() == set()
    aic.inject("500", path_prefix="/api/v1/artworks", times=1)
    failed = sync_from_api(full=True)
    assert failed.status == SyncRun.Status.FAILED and _withdrawn() == set()
    limited = sync_from_api(full=True, limit=20)
    assert limited.withdrawn == 0 and _withdrawn() == set()


def test_a_record_the_moving_list_hid_from_the_walk_is_looked_up_and_kept(aic: Any) -> None:
    sync_from_api()
    run = sync_from_api(full=True)
    # As if a removal ahead of the walk had shifted this record past a page boundary unread.
    Artwork.objects.filter(aic_id=GONE[0]).update(last_seen_walk=None)
    aic.remove_record(GONE[1])
    Artwork.objects.filter(aic_id=GONE[1]).update(last_seen_walk=None)
    assert reconcile(run) == 1
    assert _withdrawn() == {GONE[1]}
    lookups = [r for r in aic.requests if r.path == "/api/v1/artworks" and "ids" in r.query]
    assert len(lookups) == 1 and set(lookups[0].query["ids"].split(",")) == {str(a) for a in GONE}


def test_a_mass_withdrawal_waits_for_a_curator(aic: Any, settings: Any) -> None:
    sync_from_api()
    gone = sorted(aic.records)[:40]  # 13% of the sample, over the 5% bound
    for aic_id in gone:
        aic.remove_record(aic_id)
    run = sync_from_api(full=True)
    assert run.status == SyncRun.Status.SUCCEEDED and run.withdrawn == 0 and _withdrawn() == set()
    assert "would withdraw 40 of 315 artworks" in run.withdrawal_held

    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_syncrun"))
    client = Client()
    client.force_login(viewer)
    url = "/admin/catalog/syncrun/"
    refused = client.post(url, {"action": "approve_withdrawals", "_selected_action": [run.pk]})
    assert refused.status_code in (200, 302) and _withdrawn() == set()  # the action is not offered

    curator = User.objects.create_user("curator", password="pw", is_staff=True)
    curator.user_permissions.add(
        Permission.objects.get(codename="view_syncrun"), Permission.objects.get(codename="approve_withdrawal")
    )
    client.force_login(curator)
    assert "Approve held withdrawals" in client.get(url).content.decode()
    client.post(url, {"action": "approve_withdrawals", "_selected_action": [run.pk]})
    assert _withdrawn() == set(gone)
    run.refresh_from_db()
    assert run.withdrawn == 40 and run.withdrawal_held == ""


def test_the_command_may_allow_a_mass_withdrawal(aic: Any, capsys: pytest.CaptureFixture[str]) -> None:
    sync_from_api()
    gone = sorted(aic.records)[:40]
    for aic_id in gone:
        aic.remove_record(aic_id)
    call_command("sync_aic", "--full", "--no-progress")
    assert "AIC_MAX_WITHDRAW_FRACTION" in capsys.readouterr().err and _withdrawn() == set()
    call_command("sync_aic", "--full", "--allow-mass-withdrawal", "--no-progress")
    assert "withdrawn 40" in capsys.readouterr().out and _withdrawn() == set(gone)


def test_a_full_dump_import_withdraws_what_the_dump_lacks(tmp_path: Path, aic: Any) -> None:
    import_dump(SAMPLE_DIR / "records")
    dump = tmp_path / "dump"
    dump.mkdir()
    for path in (SAMPLE_DIR / "records").glob("*.json"):
        if int(path.stem) not in GONE:
            (dump / path.name).write_bytes(path.read_bytes())
    partial = import_dump(dump)
    assert partial.withdrawn == 0 and _withdrawn() == set()  # not said to be the whole collection
    run = import_dump(dump, full=True)
    assert run.status == SyncRun.Status.SUCCEEDED and run.withdrawn == 2 and _withdrawn() == set(GONE)
