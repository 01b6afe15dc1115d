"""The main artist's name (AIC's artist_title): harvested through the API, and filled by migration
0010 from the records stored before the field existed."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.db import connection

from catalog.harvest import sync_from_api
from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)

_MIGRATION = importlib.import_module("catalog.migrations.0012_artist_title_and_facet_indexes")


def _backfill_sql() -> str:
    operation = next(op for op in _MIGRATION.Migration.operations if type(op).__name__ == "RunSQL")
    return str(operation.sql)


def test_a_harvest_stores_the_artist_title_and_the_migration_fills_it_from_the_record(aic: Any) -> None:
    sync_from_api(limit=30)
    named = {a.aic_id: a.artist_title for a in Artwork.objects.exclude(artist_title="")}
    assert named, "the harvest stored no artist_title"
    assert all(a.raw.get("artist_title") == named[a.aic_id] for a in Artwork.objects.filter(aic_id__in=named))
    Artwork.objects.update(artist_title="")  # as the rows were before the field existed
    with connection.cursor() as cursor:
        cursor.execute(_backfill_sql())
    assert {a.aic_id: a.artist_title for a in Artwork.objects.exclude(artist_title="")} == named
    # A record without the key, or with null, keeps the empty name.
    assert Artwork.objects.filter(artist_title="").count() == Artwork.objects.count() - len(named)
