"""Upgrading a site with artworks and keyword lists: the documents lose their accents and the lists of
frequent words are rebuilt from them, so "Durer" finds what "Dürer" found."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

from catalog.models import Artwork, FrequentWord, Synonym, WordLeader
from catalog.word_leaders import rebuild_word_leaders

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("catalog", "0010_suggestion_trigrams")
AFTER = ("catalog", "0011_accent_free_search_document")


def _migrate(target: tuple[str, str]) -> None:
    MigrationExecutor(connection).migrate([target])


def _artworks_before() -> Any:
    """Artwork as it stood before the upgrade: later releases add columns the database lacks here."""
    return MigrationExecutor(connection).loader.project_state([BEFORE]).apps.get_model("catalog", "Artwork")


@pytest.fixture
def back_to_the_latest() -> Iterator[None]:
    yield
    MigrationExecutor(connection).migrate(MigrationLoader(connection).graph.leaf_nodes())


def _lexemes(aic_id: int) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tsvector_to_array(search_document) FROM catalog_artwork WHERE aic_id = %s", [aic_id])
        return set(cursor.fetchone()[0])


def test_documents_and_lists_lose_their_accents(back_to_the_latest: None, settings: Any) -> None:
    settings.KEYWORD_LEADERS_PER_WORD = 2  # the migration rebuilds the lists at the site's length
    _migrate(BEFORE)
    artworks = _artworks_before()
    for aic_id in range(1, 5):
        artworks.objects.create(
            aic_id=aic_id, title=f"Study {aic_id}", artist_display="Albrecht Dürer", content_hash="x"
        )
    artworks.objects.create(aic_id=9, title="Melencolia", description="After Durer", content_hash="x")
    rebuild_word_leaders()
    assert "dürer" in _lexemes(1)
    assert FrequentWord.objects.filter(lexeme="dürer").exists()

    _migrate(AFTER)
    assert "durer" in _lexemes(1) and "dürer" not in _lexemes(1)
    assert set(FrequentWord.objects.values_list("lexeme", flat=True)) >= {"durer", "studi"}
    assert not FrequentWord.objects.filter(lexeme="dürer").exists()
    # The list of "durer" holds the artworks ranking best: the artist's line (B) outranks a description (C).
    listed = set(WordLeader.objects.filter(lexeme="durer").values_list("aic_id", flat=True))
    assert len(listed) == 2 and listed <= {1, 2, 3, 4}
    # A write after the upgrade still reaches the lists (their triggers are on).
    Artwork.objects.filter(aic_id=9).update(title="Dürer Dürer Dürer")
    assert WordLeader.objects.filter(lexeme="durer", aic_id=9).exists()


def test_a_new_site_gets_no_lists_and_synonyms_lose_their_accents(back_to_the_latest: None) -> None:
    _migrate(BEFORE)
    _artworks_before().objects.create(aic_id=1, title="Café", content_hash="x")
    with connection.cursor() as cursor:  # as release 0009 stored it
        cursor.execute(
            "INSERT INTO catalog_synonym (terms, note, normalised_terms, created_at) "
            "VALUES ('Café, bistro', '', ARRAY['café', 'bistro'], now())"
        )
    _migrate(AFTER)
    assert "cafe" in _lexemes(1)
    assert list(Synonym.objects.values_list("normalised_terms", flat=True)) == [["cafe", "bistro"]]
    assert not FrequentWord.objects.exists()
