"""A dump import and a full harvest rebuild the keyword lists; an incremental harvest leaves them to the triggers."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from catalog.models import FrequentWord, SyncRun, WordLeader
from catalog.tasks import sync_aic_task
from conftest import SAMPLE_DIR

pytestmark = pytest.mark.django_db


def test_a_dump_import_lists_the_frequent_words(settings: Any, capsys: pytest.CaptureFixture[str]) -> None:
    settings.KEYWORD_LEADERS_PER_WORD = 10
    call_command("import_aic_dump", str(SAMPLE_DIR / "records"))
    words = FrequentWord.objects.count()
    assert words > 20
    assert WordLeader.objects.count() == 10 * words
    assert f"keyword lists: {words} frequent words listed" in capsys.readouterr().out


def test_a_full_harvest_rebuilds_the_lists_and_an_incremental_one_does_not(settings: Any, aic: Any) -> None:
    settings.KEYWORD_LEADERS_PER_WORD = 10
    sync_aic_task.apply(kwargs={"full": True}).get()
    listed = set(FrequentWord.objects.values_list("lexeme", flat=True))
    assert len(listed) > 20

    settings.KEYWORD_LEADERS_PER_WORD = 5  # more words would be frequent at a rebuild
    record = dict(aic.records[28560], title="The Bedroom at night", updated_at="2030-01-01T00:00:00+00:00")
    aic.upsert_record(record)
    assert SyncRun.objects.get(pk=sync_aic_task.apply(kwargs={"full": False}).get()).updated == 1
    assert set(FrequentWord.objects.values_list("lexeme", flat=True)) == listed

    record.update(title="The Bedroom at dawn", updated_at="2030-01-02T00:00:00+00:00")
    aic.upsert_record(record)
    assert SyncRun.objects.get(pk=sync_aic_task.apply(kwargs={"full": True}).get()).updated == 1
    assert set(FrequentWord.objects.values_list("lexeme", flat=True)) > listed
