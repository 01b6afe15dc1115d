from __future__ import annotations

import time
from typing import Any

import pytest

from catalog.harvest import sync_from_api
from catalog.models import Artwork, SyncRun

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("kind", ["500", "503", "truncated_json", "html", "reset", "timeout"])
def test_it_retries_transient_faults_and_stores_everything(aic: Any, kind: str) -> None:
    aic.inject(kind, path_prefix="/api/v1/artworks", times=2, seconds=3)
    run = sync_from_api()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert Artwork.objects.count() == len(aic.records)


def test_it_honours_retry_after(aic: Any) -> None:
    aic.inject("429", path_prefix="/api/v1/artworks", times=1, retry_after=1)
    started = time.monotonic()
    run = sync_from_api()
    assert time.monotonic() - started >= 1.0
    assert run.status == SyncRun.Status.SUCCEEDED


def test_it_fails_the_run_truthfully_when_retries_run_out(aic: Any, settings: Any) -> None:
    settings.AIC_MAX_RETRIES = 2
    aic.inject("500", path_prefix="/api/v1/artworks", times=10)
    run = sync_from_api()
    assert run.status == SyncRun.Status.FAILED
    assert "HTTP 500" in run.errors[-1]["reason"]
    assert run.cursor is None


def test_it_quarantines_a_malformed_record_and_stores_the_rest(aic: Any) -> None:
    aic.inject("malformed_record", path_prefix="/api/v1/artworks", times=1, index=3)
    run = sync_from_api()
    assert run.status == SyncRun.Status.PARTIAL
    assert run.failed == 1
    assert "not a positive integer" in run.errors[0]["reason"]
    assert Artwork.objects.count() == len(aic.records) - 1
    # The next incremental run reaches the quarantined record again and stores it.
    again = sync_from_api()
    assert again.status == SyncRun.Status.SUCCEEDED
    assert Artwork.objects.count() == len(aic.records)
