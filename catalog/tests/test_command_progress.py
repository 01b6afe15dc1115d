"""Long commands show a progress bar (tqdm) on a terminal, or when asked with --progress."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command

from catalog.models import Artwork
from conftest import SAMPLE_DIR

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_dump_import_counts_files(db: None) -> None:
    stderr = io.StringIO()
    call_command("import_aic_dump", str(SAMPLE_DIR / "records"), "--progress", stdout=io.StringIO(), stderr=stderr)
    assert "import: 100%" in stderr.getvalue()
    assert "315/315" in stderr.getvalue()
    assert Artwork.objects.count() == 315


def test_the_harvest_counts_records(aic: Any) -> None:
    stderr = io.StringIO()
    call_command("sync_aic", "--limit", "30", "--progress", stdout=io.StringIO(), stderr=stderr)
    assert "harvest: 100%" in stderr.getvalue() and "30/30" in stderr.getvalue()


def test_no_bar_unless_on_a_terminal_or_asked(db: None) -> None:
    stderr = io.StringIO()
    call_command("import_aic_dump", str(SAMPLE_DIR / "records"), "--limit", "5", stdout=io.StringIO(), stderr=stderr)
    assert "%" not in stderr.getvalue()


def test_embed_missing_waits_for_the_workers_with_a_bar(
    aic: Any, embedding_model: Any, celery_worker: Any, settings: Any, sample_aic: Any
) -> None:
    from catalog.harvest import sync_from_api

    sync_from_api(limit=12)
    # The worker fetches from the session's fake AIC server; harvesting here queued nothing yet to it.
    with_image = Artwork.objects.exclude(image_id="").count()
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("embed_missing", "--wait", "--timeout", "120", "--progress", stdout=stdout, stderr=stderr)
    assert f"{with_image}/{with_image}" in stderr.getvalue()
    assert f"embedded {with_image}, failed 0, pending 0" in stdout.getvalue()
