"""Upgrading a site with artworks: the suggestion trigrams of every stored row lose their accents."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("catalog", "0012_artist_title_and_facet_indexes")
AFTER = ("catalog", "0013_accent_free_suggestion_trigrams")


@pytest.fixture
def back_to_the_latest() -> Iterator[None]:
    yield
    MigrationExecutor(connection).migrate(MigrationLoader(connection).graph.leaf_nodes())


def _trigrams(aic_id: int) -> tuple[set[str], set[str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT title_trigrams, artist_trigrams FROM catalog_artwork WHERE aic_id = %s", [aic_id])
        title, artist = cursor.fetchone()
    return set(title), set(artist)


def test_stored_rows_get_trigrams_without_accents(back_to_the_latest: None) -> None:
    MigrationExecutor(connection).migrate([BEFORE])
    artworks = MigrationExecutor(connection).loader.project_state([BEFORE]).apps.get_model("catalog", "Artwork")
    artworks.objects.create(aic_id=1, title="Café", artist_display="Albrecht Dürer\nGerman", content_hash="x")
    title, artist = _trigrams(1)
    assert "fé " in title and "dür" in artist

    MigrationExecutor(connection).migrate([AFTER])
    title, artist = _trigrams(1)
    assert {"  c", " ca", "caf", "afe", "fe "} == title
    assert "dur" in artist and "dür" not in artist
    with connection.cursor() as cursor:  # the GIN index is there again, and finds the row
        cursor.execute("SELECT aic_id FROM catalog_artwork WHERE artist_trigrams && catalog_trigram_keys('durer')")
        assert cursor.fetchall() == [(1,)]
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'artwork_%%_trigrams_gin' ORDER BY 1")
        assert cursor.fetchall() == [("artwork_artist_trigrams_gin",), ("artwork_title_trigrams_gin",)]

    MigrationExecutor(connection).migrate([BEFORE])  # and back, with the accents
    assert "dür" in _trigrams(1)[1]
