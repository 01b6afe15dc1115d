"""The keyword list's definition, computed the slow way: every artwork holding any word, ranked."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib.postgres.search import SearchQueryField, SearchRank
from django.db import connection
from django.db.models import F, Value
from django.db.models.functions import Cast

from catalog.models import SEARCH_CONFIG, Artwork, visible_q
from search.filters import SearchFilters
from search.keyword import MatchesQuery, words_tsquery


def terms_of(query: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tsvector_to_array(to_tsvector(%s::regconfig, catalog_unaccent(%s)))", [SEARCH_CONFIG, query]
        )
        return list(cursor.fetchone()[0])


def matching(tsquery: str, filters: SearchFilters) -> Any:
    return Artwork.objects.filter(
        MatchesQuery(F("search_document"), Cast(Value(tsquery), SearchQueryField())), filters.as_q(), visible_q()
    )


def words_held(terms: list[str], filters: SearchFilters) -> Counter[int]:
    """For each artwork, how many of the terms its document holds: one match query per term."""
    held: Counter[int] = Counter()
    for term in terms:
        held.update(matching(words_tsquery([term], 1), filters).values_list("pk", flat=True))
    return held


def every_match_ranked(query: str, filters: SearchFilters) -> list[tuple[int, float]]:
    """(aic_id, score) of every artwork holding any word of the query, best first."""
    terms = terms_of(query)
    if not terms:
        return []
    any_word = words_tsquery(terms, 1)
    held = words_held(terms, filters)
    rows = matching(any_word, filters).annotate(
        rank=SearchRank(F("search_document"), Cast(Value(any_word), SearchQueryField()))
    )
    scored = [
        (artwork.aic_id, (held[artwork.pk] + artwork.rank / (artwork.rank + 1)) / (len(terms) + 1)) for artwork in rows
    ]
    return sorted(scored, key=lambda pair: (-pair[1], pair[0]))
