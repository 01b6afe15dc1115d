"""An artwork withdrawn from the collection leaves every search, similar list and filter menu, though
its vector is still stored; cleared, it comes back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client

from catalog.harvest import import_dump
from catalog.models import Artwork, FrequentWord, WordLeader
from catalog.signals import artworks_changed
from catalog.word_leaders import rebuild_word_leaders
from conftest import SAMPLE_DIR
from embeddings.models import ArtworkEmbedding
from search.filters import SearchFilters
from search.keyword import text_matches
from search.metrics import KEYWORD_LEADER_READS
from search.tests.full_text import every_match_ranked
from search.views import filter_menus

pytestmark = pytest.mark.django_db(transaction=True)

WITHDRAWN_AT = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
ONLY_TYPE = "Reliquary casket"  # an artwork type no other sample artwork has


def _set_withdrawn(artwork: Artwork, when: datetime | None) -> None:
    """As a reconcile does: a bulk update, then the signal that marks cached answers stale."""
    Artwork.objects.filter(pk=artwork.pk).update(withdrawn_at=when)
    artworks_changed.send(sender=Artwork)
    cache.delete("search:filter-menus")


def _found_by(client: Client, artwork: Artwork, neighbour: Artwork) -> dict[str, bool]:
    """Where ``artwork`` is found: each text mode, search by its own image, and the similar list of
    ``neighbour``. Every page asks for more results than the test holds artworks."""
    found = {}
    for mode in ("keyword", "semantic", "hybrid"):
        response = client.get("/api/search", {"q": artwork.title, "mode": mode, "k": 100})
        assert response.status_code == 200, response.content
        found[mode] = artwork.aic_id in {hit["id"] for hit in response.json()["results"]}
    image = (SAMPLE_DIR / "images" / f"{artwork.image_id}.jpg").read_bytes()
    upload = SimpleUploadedFile("photo.jpg", image, content_type="image/jpeg")
    response = client.post("/api/search/image?k=100", {"image": upload})
    assert response.status_code == 200, response.content
    found["image"] = artwork.aic_id in {hit["id"] for hit in response.json()["results"]}
    response = client.get(f"/api/artworks/{neighbour.aic_id}/similar", {"k": 100})
    assert response.status_code == 200, response.content
    found["similar"] = artwork.aic_id in {hit["id"] for hit in response.json()["results"]}
    page = client.get("/", {"q": artwork.title, "mode": "keyword"}).content.decode()
    found["page"] = f'href="/artworks/{artwork.aic_id}"' in page
    found["facets"] = ONLY_TYPE in filter_menus()["artwork_types"]
    return found


def test_a_withdrawn_artwork_is_found_nowhere_until_it_returns(client: Client, indexed: list[Artwork]) -> None:
    artwork, neighbour = indexed[3], indexed[0]
    Artwork.objects.filter(pk=artwork.pk).update(artwork_type_title=ONLY_TYPE)
    _set_withdrawn(artwork, None)
    everywhere = dict.fromkeys(("keyword", "semantic", "hybrid", "image", "similar", "page", "facets"), True)
    assert _found_by(client, artwork, neighbour) == everywhere

    _set_withdrawn(artwork, WITHDRAWN_AT)
    # The filter hides it, not a missing vector: the vector is still stored.
    assert ArtworkEmbedding.objects.filter(artwork=artwork).exists()
    assert _found_by(client, artwork, neighbour) == dict.fromkeys(everywhere, False)

    _set_withdrawn(artwork, None)
    assert _found_by(client, artwork, neighbour) == everywhere


PER_WORD = 12


def _most_frequent_word() -> str:
    with connection.cursor() as cursor:
        # The word held by most artworks (one that reads back as itself).
        cursor.execute(
            "SELECT word FROM ts_stat('SELECT search_document FROM catalog_artwork') "
            "WHERE tsvector_to_array(to_tsvector('english', word)) = ARRAY[word] ORDER BY ndoc DESC, word LIMIT 1"
        )
        return str(cursor.fetchone()[0])


def _reads(outcome: str) -> float:
    return KEYWORD_LEADER_READS.labels(outcome=outcome)._value.get()


def test_a_frequent_words_leader_list_skips_a_withdrawn_artwork(db: None) -> None:
    import_dump(SAMPLE_DIR / "records")
    rebuild_word_leaders(PER_WORD)
    word = _most_frequent_word()
    assert FrequentWord.objects.filter(lexeme=word).exists()
    k = 5
    best = text_matches(word, k)[0][0]

    Artwork.objects.filter(pk=best.pk).update(withdrawn_at=WITHDRAWN_AT)
    # Withdrawal leaves the document as it was, so the artwork stays on the word's list.
    assert WordLeader.objects.filter(lexeme=word, artwork_id=best.pk).exists()
    read = _reads("read")
    found = [artwork.aic_id for artwork, _ in text_matches(word, k)]
    assert _reads("read") == read + 1  # answered from the list, which still holds k others
    assert best.aic_id not in found
    assert found == [aic_id for aic_id, _ in every_match_ranked(word, SearchFilters())[:k]]

    Artwork.objects.filter(pk=best.pk).update(withdrawn_at=None)
    assert text_matches(word, k)[0][0].aic_id == best.aic_id


def test_no_index_answers_the_visibility_filter(db: None) -> None:
    """Search's "withdrawn_at IS NULL" holds for nearly every artwork: an index able to answer it looks
    selective to a planner without statistics (after a bulk load), which then walks it instead of the
    full-text or HNSW index. The index on withdrawn_at holds the withdrawn ones alone."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # any index that can answer is taken
        cursor.execute(f"EXPLAIN SELECT id FROM {Artwork._meta.db_table} WHERE withdrawn_at IS NULL")
        unlisted = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan" in unlisted and "withdrawn_at IS NULL" in unlisted, unlisted
