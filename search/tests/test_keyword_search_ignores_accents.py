"""Keyword search matches with and without accents: "Durer" finds "Dürer", "Velázquez" and "Velazquez"
find the same artworks, in keyword and hybrid mode, and a curator's synonyms still widen the query."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client

from catalog.harvest import import_dump
from catalog.models import Artwork, Synonym
from catalog.word_leaders import rebuild_word_leaders
from conftest import SAMPLE_DIR
from embeddings.models import EmbeddingModel
from search.fusion import hybrid_hits
from search.keyword import text_matches
from search.tests.curated import build_catalog, ids

pytestmark = pytest.mark.django_db(transaction=True)

# Accented names of the bundled sample, with artworks holding them in the title or artist line (others
# may hold them elsewhere).
SAMPLE_SPELLINGS = [
    ("Velázquez", "Velazquez", {21934, 41211, 80560}),
    ("Étretat", "Etretat", {20535, 59927, 81540}),
    ("Peña", "Pena", {887, 35155, 95993}),
    ("Munkácsy", "munkacsy", {39493, 263514}),
]

# Made-up records with the accents visitors leave out (or add).
ACCENTED = {
    "durer": {"aic_id": 901, "title": "Knight, Death and the Devil", "artist_display": "Albrecht Dürer\nGerman"},
    "cezanne": {"aic_id": 902, "title": "The Basket of Apples", "artist_display": "Paul Cézanne\nFrench"},
    "degas": {"aic_id": 903, "title": "Dancers", "artist_display": "Edgar Dégas\nFrench"},
    "jardin": {"aic_id": 904, "title": "El jardín", "description": "Una pintura del jardín de la casa."},
    "plain": {"aic_id": 905, "title": "Jardin public", "description": "Pintura sobre tabla."},
}


@pytest.fixture
def sample(embedding_model: EmbeddingModel) -> dict[str, Artwork]:
    """The bundled sample (no vectors) and the ACCENTED records, under the active model."""
    EmbeddingModel.objects.filter(pk=embedding_model.pk).update(is_active=False)
    import_dump(SAMPLE_DIR / "records")
    embedding_model.activate()
    build_catalog(embedding_model)
    return {name: Artwork.objects.create(content_hash="x", **fields) for name, fields in ACCENTED.items()}


def _keyword_ids(query: str) -> set[int]:
    return {artwork.aic_id for artwork, _ in text_matches(query, 50)}


def _hybrid_keyword_ids(model: EmbeddingModel, query: str) -> set[int]:
    """The artworks hybrid mode takes from the keyword list for ``query``."""
    return {hit.artwork.aic_id for hit in hybrid_hits(model, query, 50) if hit.keyword_rank is not None}


@pytest.mark.parametrize(("accented", "plain", "holding"), SAMPLE_SPELLINGS)
def test_sample_names_match_with_and_without_accents(
    client: Client,
    sample: dict[str, Artwork],
    embedding_model: EmbeddingModel,
    accented: str,
    plain: str,
    holding: set[int],
) -> None:
    found = _keyword_ids(accented)
    assert found >= holding
    assert _keyword_ids(plain) == found
    assert ids(client, q=accented, mode="keyword") == ids(client, q=plain, mode="keyword")
    assert set(ids(client, q=plain, mode="keyword")) == found
    assert _hybrid_keyword_ids(embedding_model, accented) == _hybrid_keyword_ids(embedding_model, plain) == found
    hybrid = ids(client, q=plain, mode="hybrid")
    assert holding <= set(hybrid)


def test_artists_are_found_with_or_without_their_accents(client: Client, sample: dict[str, Artwork]) -> None:
    durer, cezanne, degas = (sample[name].aic_id for name in ("durer", "cezanne", "degas"))
    assert ids(client, q="Durer", mode="keyword") == ids(client, q="Dürer", mode="keyword") == [durer]
    assert ids(client, q="Albrecht DÜRER", mode="keyword") == [durer]
    # The sample holds Cézannes of its own, some spelled without the accent.
    cezannes = ids(client, q="Cezanne", mode="keyword")
    assert cezanne in cezannes and len(cezannes) > 1
    assert ids(client, q="Cézanne", mode="keyword") == cezannes
    assert ids(client, q="Paul Cezanne", mode="keyword") == ids(client, q="Paul Cézanne", mode="keyword")
    # An accent the record lacks finds it too, and ranking is unchanged by the spelling.
    degases = ids(client, q="Degas", mode="keyword")
    assert degas in degases and ids(client, q="Dégas", mode="keyword") == degases
    assert text_matches("Cezanne apples", 5) == text_matches("Cézanne apples", 5)


def test_spanish_words_match_with_and_without_accents(
    client: Client, sample: dict[str, Artwork], embedding_model: EmbeddingModel
) -> None:
    jardin, plain = sample["jardin"].aic_id, sample["plain"].aic_id
    assert (
        set(ids(client, q="jardín", mode="keyword"))
        == set(ids(client, q="jardin", mode="keyword"))
        == {
            jardin,
            plain,
        }
    )
    # The title holds the word (weight A) in both; the accented record also holds it in its description.
    assert ids(client, q="jardin", mode="keyword")[0] == jardin
    assert set(ids(client, q="pintura", mode="keyword")) == {jardin, plain}
    assert _hybrid_keyword_ids(embedding_model, "jardín pintura") == {jardin, plain}
    assert _hybrid_keyword_ids(embedding_model, "jardin pintura") == {jardin, plain}


def test_synonyms_widen_accent_free_queries(client: Client, sample: dict[str, Artwork]) -> None:
    durer, cezanne = sample["durer"].aic_id, sample["cezanne"].aic_id
    Synonym.objects.create(terms="engraver, Albrecht Dürer")
    assert ids(client, q="engraver", mode="keyword") == [durer]
    assert ids(client, q="pommes", mode="keyword") == []
    Synonym.objects.create(terms="pommes, Cezanne")
    found = ids(client, q="pommes", mode="keyword")
    assert cezanne in found and set(found) == set(ids(client, q="Cézanne", mode="keyword"))


def test_a_synonym_is_found_with_or_without_its_accents(client: Client, sample: dict[str, Artwork]) -> None:
    knight = Artwork.objects.create(aic_id=906, title="Engraved knight", content_hash="x")
    Synonym.objects.create(terms="Albrecht Dürer, engraved knight")
    durer = sample["durer"].aic_id
    for query in ("Albrecht Durer", "albrecht dürer", "ALBRECHT DÜRER"):
        assert set(ids(client, q=query, mode="keyword")) == {durer, knight.aic_id}, query
    assert Synonym.objects.get().normalised_terms == ["albrecht durer", "engraved knight"]


def test_frequent_accented_words_read_their_lists(sample: dict[str, Artwork]) -> None:
    # With lists of two per word, "francois" (eleven artists of the sample) is a frequent word, listed
    # without its accent; the list read gives the ranking in full.
    expected = _keyword_ids("Francois")
    assert len(expected) > 2
    rebuild_word_leaders(2)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM catalog_wordleader WHERE lexeme = 'francoi'")
        assert cursor.fetchone()[0] == 2
        cursor.execute("SELECT count(*) FROM catalog_frequentword WHERE lexeme LIKE '%ç%'")
        assert cursor.fetchone()[0] == 0
    assert [a.aic_id for a, _ in text_matches("François", 2)] == [a.aic_id for a, _ in text_matches("Francois", 2)]
    assert len(text_matches("François", 2)) == 2


def test_the_document_holds_words_without_accents(sample: dict[str, Artwork]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tsvector_to_array(search_document) FROM catalog_artwork WHERE aic_id = %s", [sample["durer"].aic_id]
        )
        lexemes = set(cursor.fetchone()[0])
        cursor.execute("SELECT catalog_unaccent('Ærø Łódź Straße œuvre Øresund')")
        spelled = cursor.fetchone()[0]
    assert "durer" in lexemes and "dürer" not in lexemes
    assert spelled == "AEro Lodz Strasse oeuvre Oresund"
