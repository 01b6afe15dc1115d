from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Artwork, SyncRun

pytestmark = pytest.mark.django_db

SAMPLE_RECORDS = Path(__file__).resolve().parents[2] / "sample_data" / "aic" / "records"


def test_it_imports_a_dump_folder_and_quarantines_bad_files(tmp_path: Path) -> None:
    for path in sorted(SAMPLE_RECORDS.glob("*.json"))[:20]:
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "999999.json").write_text("{not json")
    (tmp_path / "999998.json").write_text(json.dumps({"id": "x"}))
    call_command("import_aic_dump", str(tmp_path))
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.PARTIAL
    assert (run.seen, run.created, run.failed) == (22, 20, 2)
    assert Artwork.objects.count() == 20
    call_command("import_aic_dump", str(tmp_path))
    assert SyncRun.objects.first().unchanged == 20  # type: ignore[union-attr]


def test_it_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="is not a folder"):
        call_command("import_aic_dump", str(tmp_path / "nope"))
    assert SyncRun.objects.get().status == SyncRun.Status.FAILED
