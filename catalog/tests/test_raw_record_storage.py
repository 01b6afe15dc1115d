"""The raw AIC record is stored without pglz: lz4 where the server has it, else uncompressed out of line
(pglz cost a third of PostgreSQL's work per imported record)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import connection

from catalog.harvest import import_dump
from catalog.models import Artwork

pytestmark = pytest.mark.django_db

SAMPLE_RECORDS = Path(__file__).resolve().parents[2] / "sample_data" / "aic" / "records"


def _server_has_lz4() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY (enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        return bool(cursor.fetchone()[0])


def test_a_large_raw_record_is_stored_whole_without_pglz(tmp_path: Path) -> None:
    largest = max(SAMPLE_RECORDS.glob("*.json"), key=lambda path: path.stat().st_size)
    record = json.loads(largest.read_text())
    (tmp_path / largest.name).write_text(json.dumps(record))
    assert import_dump(tmp_path).created == 1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_compression(raw), pg_column_size(raw), octet_length(raw::text) "
            "FROM catalog_artwork WHERE aic_id = %s",
            [record["id"]],
        )
        compression, stored_bytes, text_bytes = cursor.fetchone()
    assert text_bytes > 2048  # large enough that PostgreSQL moves it out of the row (TOAST)
    if _server_has_lz4():
        assert compression == "lz4"
    else:
        assert compression is None and stored_bytes >= text_bytes * 0.9  # as large as the JSON: not compressed
    assert Artwork.objects.get(aic_id=record["id"]).raw == record
