"""Where the artworks still missing hold one word each, a frequent word's matches come from its list
of leaders: the keyword list is the same as ranking every match, and reads a page of artworks."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from catalog.harvest import import_dump
from catalog.models import Artwork, FrequentWord
from catalog.word_leaders import rebuild_word_leaders
from conftest import SAMPLE_DIR
from search.filters import SearchFilters
from search.keyword import text_matches
from search.metrics import KEYWORD_LEADER_READS
from search.tests.full_text import every_match_ranked, terms_of

pytestmark = pytest.mark.django_db

PER_WORD = 12
QUERIES = [
    "portrait of a woman in a red dress",
    "a landscape painting with water, trees and a river at sunset",
    "a stormy sea at night",
    "oil on canvas",
    "street",
    "Monet water lilies",
]


@pytest.fixture
def listed() -> None:
    import_dump(SAMPLE_DIR / "records")
    rebuild_word_leaders(PER_WORD)


def _reads(outcome: str) -> float:
    return KEYWORD_LEADER_READS.labels(outcome=outcome)._value.get()


@pytest.mark.parametrize(
    "filters", [SearchFilters(), SearchFilters(is_public_domain=True), SearchFilters(department="Prints and Drawings")]
)
def test_the_list_is_every_match_ranked_whether_read_from_leaders_or_not(listed: None, filters: SearchFilters) -> None:
    Artwork.objects.filter(aic_id__in=Artwork.objects.order_by("aic_id").values("aic_id")[:20]).update(is_hidden=True)
    read, ran_out = _reads("read"), _reads("ran_out")
    for query in QUERIES:
        everything = every_match_ranked(query, filters)
        for k in (1, 5, PER_WORD, 40):
            found = text_matches(query, k, filters)
            assert [artwork.aic_id for artwork, _ in found] == [aic_id for aic_id, _ in everything[:k]], (query, k)
            assert [score for _, score in found] == pytest.approx([score for _, score in everything[:k]])
    # The lists answer short lists; a department leaves too few artworks on them, so every match is ranked.
    if filters.department:
        assert _reads("ran_out") > ran_out
    else:
        assert _reads("read") > read


@pytest.mark.django_db(transaction=True)
def test_a_frequent_word_reads_a_page_of_its_leaders_not_every_match(listed: None) -> None:
    with connection.cursor() as cursor:
        # The word held by most artworks (one that reads back as itself).
        cursor.execute(
            "SELECT word FROM ts_stat('SELECT search_document FROM catalog_artwork') "
            "WHERE tsvector_to_array(to_tsvector('english', word)) = ARRAY[word] ORDER BY ndoc DESC, word LIMIT 1"
        )
        word = str(cursor.fetchone()[0])
    assert FrequentWord.objects.filter(lexeme=word).exists() and terms_of(word) == [word]
    matches = len(every_match_ranked(word, SearchFilters()))
    assert matches > 5 * PER_WORD
    with connection.cursor() as cursor:
        # Statistics of these rows alone: a plan must not depend on what earlier tests left in the tables.
        cursor.execute("VACUUM ANALYZE catalog_artwork, catalog_wordleader, catalog_frequentword")

    def artworks_read(k: int) -> int:
        with transaction.atomic(), connection.cursor() as cursor:
            # As at scale: rows are read through indexes, and a short list joins its artworks one by one
            # by primary key. Over a few hundred artworks the planner may as well hash or merge them all,
            # which a real collection never makes cheaper; which it picks here depends on the statistics.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_hashjoin = off")
            cursor.execute("SET LOCAL enable_mergejoin = off")
            cursor.execute("SELECT pg_stat_force_next_flush()")
            query = "SELECT coalesce(sum(idx_tup_fetch), 0) FROM pg_stat_xact_user_tables WHERE relname = %s"
            cursor.execute(query, [Artwork._meta.db_table])
            before = int(cursor.fetchone()[0])
            found = text_matches(word, k)
            cursor.execute(query, [Artwork._meta.db_table])
            assert [artwork.aic_id for artwork, _ in found] == [
                aic_id for aic_id, _ in every_match_ranked(word, SearchFilters())[:k]
            ]
            return int(cursor.fetchone()[0]) - before

    # At most the list (the planner may join a list this short whole, reading one row past its end,
    # rather than walk its index).
    assert artworks_read(5) <= PER_WORD + 1
    assert artworks_read(PER_WORD) <= PER_WORD + 1
    assert artworks_read(PER_WORD + 1) >= matches  # past the list: every match ranked
