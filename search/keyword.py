"""Full-text ranking: PostgreSQL full-text search over Artwork.search_document, tier by tier.

The document holds the title (weight A), the artist (B), and the description, medium and subject
terms (C). Artworks holding more of the query's words rank first, then by ts_rank, so a page of
them ranks only the few that hold the most words; in the last tier a frequent word's matches come
from its list of leaders (catalog/word_leaders.py).
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import psycopg
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.search import SearchQueryField, SearchRank
from django.db import connection
from django.db.models import BooleanField, Expression, F, FloatField, Func, TextField
from django.db.models.functions import Cast

from catalog.models import SEARCH_CONFIG, Artwork, FrequentWord, WordLeader, visible_q
from embeddings.vector_sql import raw_connection
from search.filters import SearchFilters
from search.metrics import KEYWORD_LEADER_READS
from search.statements import LISTED_FIELDS, ListingStatement, Slot
from search.types import Hit, by_score

_FREQUENT_WORDS = FrequentWord._meta.db_table


class MatchesQuery(Func):
    """document @@ tsquery: whether a full-text document matches a query."""

    template = "%(expressions)s"
    arg_joiner = " @@ "
    output_field = BooleanField()


def keyword_hits(query: str, k: int, filters: SearchFilters | None = None) -> list[Hit]:
    """The k visible artworks whose text best matches ``query``, best first (boosts added)."""
    ranked = text_matches(query, k, filters)
    hits = [Hit(artwork, rank + artwork.boost, keyword_rank=i) for i, (artwork, rank) in enumerate(ranked, 1)]
    return by_score(hits)


def text_matches(query: str, k: int, filters: SearchFilters | None = None) -> list[tuple[Artwork, float]]:
    """(artwork, keyword score) of the k visible artworks that best match ``query``, best first.

    Artworks holding more of the query's distinct words rank first, ts_rank orders those holding
    as many; the score, in [0, 1), says both: (words held + rank / (rank + 1)) / (words + 1).
    Ranking every artwork that holds any word costs a row read each, tens of thousands for a
    common word in a large catalog, so the artworks are read tier by tier: those holding all the
    words, then those holding at least all but one, and so on (``coverage_tiers``), until the k
    are found: the order is the same as ranking them all, and a tier below is never read. In the
    last tier, where each artwork still missing holds one word, a frequent word's matches come from
    its list of leaders (catalog/word_leaders.py), a page of them instead of all.
    """
    filters = filters or SearchFilters()
    found: list[tuple[Artwork, float]] = []
    with psycopg.Cursor(raw_connection()) as cursor:
        terms = query_terms(cursor, query)
        tiers = coverage_tiers(len(terms)) if terms else []
        any_word = words_tsquery(terms, 1)
        for above, held in zip([len(terms) + 1, *tiers], tiers, strict=False):
            # A tier below a skipped one holds artworks with different counts of words: count them.
            counts_words = above - held > 1
            # A tier matches the fewer than k artworks found above it too (cheaper than excluding
            # them row by row), so its k best hold at least the k still missing.
            seen = {artwork.pk for artwork, _ in found}
            values = {"any_word": any_word, "terms": terms, "held": float(held), "words": float(len(terms))}
            ranked = None
            if held == 1 and not counts_words:
                # Every artwork still missing holds exactly one of the words.
                ranked = _one_word_matches(cursor, terms, filters, k, values)
            if ranked is None:
                ranked = _text_statement(filters, k, counts_words=counts_words).run(
                    cursor, tier=words_tsquery(terms, held), **values
                )
            found += [(artwork, score) for artwork, score in ranked if artwork.pk not in seen][: k - len(found)]
            if len(found) >= k:
                break
    return found


def _one_word_matches(
    cursor: psycopg.Cursor[Any], terms: list[str], filters: SearchFilters, k: int, values: dict[str, Any]
) -> list[tuple[Artwork, float]] | None:
    """The k best artworks holding any of ``terms``, as the last tier's statement ranks them, with
    each frequent word's matches read from its leader list; None when there is no frequent word, or a
    list holds fewer than k artworks that pass ``filters`` (then every match must be ranked).

    An artwork holding one word ranks by that word's impact (catalog/word_leaders.py), so beyond a
    word's k first listed artworks none can enter the k best (those holding more words are found
    by then, in the tiers above). Two impacts so close that their scores round to one float order
    by impact here and by AIC id in the full ranking; ts_rank's weights keep impacts far apart.
    """
    with connection.wrap_database_errors:
        cursor.execute(f"SELECT lexeme FROM {_FREQUENT_WORDS} WHERE lexeme = ANY(%s)", [terms])
        frequent = {row[0] for row in cursor.fetchall()}
    if not frequent:
        return None
    ranked: list[tuple[Artwork, float]] = []
    for word in sorted(frequent):
        leaders = _leader_statement(filters, k).run(cursor, word=word, **values)
        if len(leaders) < k:
            KEYWORD_LEADER_READS.labels(outcome="ran_out").inc()
            return None
        ranked += leaders
    rare = [term for term in terms if term not in frequent]
    if rare:
        statement = _text_statement(filters, k, counts_words=False)
        ranked += statement.run(cursor, tier=words_tsquery(rare, 1), **values)
    KEYWORD_LEADER_READS.labels(outcome="read").inc()
    unique = {artwork.pk: (artwork, score) for artwork, score in ranked}
    return sorted(unique.values(), key=lambda pair: (-pair[1], pair[0].aic_id))[:k]


def query_terms(cursor: psycopg.Cursor[Any], query: str) -> list[str]:
    """The distinct lexemes full-text search reads from ``query`` (stemmed, stop words dropped)."""
    with connection.wrap_database_errors:
        cursor.execute("SELECT tsvector_to_array(to_tsvector(%s::regconfig, %s))", [SEARCH_CONFIG, query])
        row = cursor.fetchone()
    return list(row[0]) if row else []


# A tier's tsquery lists every set of that many words; past this many sets the tier is skipped
# (the next one down asks for fewer words, and the last, any word, is one set per word).
MAX_TIER_WORD_SETS = 64


def coverage_tiers(words: int) -> list[int]:
    """How many of the query's ``words`` each successive statement asks an artwork to hold."""
    return [held for held in range(words, 0, -1) if held in (1, words) or math.comb(words, held) <= MAX_TIER_WORD_SETS]


def words_tsquery(terms: list[str], held: int) -> str:
    """tsquery text matching documents that hold at least ``held`` of the lexemes ``terms``."""
    quoted = ["'" + term.replace("\\", "\\\\").replace("'", "''") + "'" for term in terms]
    if held == 1:
        return " | ".join(quoted)
    return " | ".join("(" + " & ".join(words) + ")" for words in itertools.combinations(quoted, held))


def words_held(document: F, terms: Expression) -> Expression:
    """How many of the lexemes ``terms`` (a text[]) the tsvector ``document`` holds."""
    lexemes = functools.partial(Func, function="length", output_field=FloatField())
    without_terms = Func(document, Cast(terms, ArrayField(TextField())), function="ts_delete")
    return lexemes(document) - lexemes(without_terms)


@functools.lru_cache(maxsize=256)
def _text_statement(filters: SearchFilters, k: int, *, counts_words: bool) -> ListingStatement:
    """The best k artworks holding at least ``held`` words, scored as holding ``held`` or, with
    ``counts_words``, as many as they hold."""
    matches = MatchesQuery(F("search_document"), Cast(Slot("tier", TextField()), SearchQueryField()))
    if counts_words:
        held: Expression = words_held(F("search_document"), Slot("terms", TextField()))
    else:
        held = Slot("held", FloatField())
    rows = (
        Artwork.objects.filter(matches, filters.as_q(), visible_q())
        .annotate(score=_keyword_score(F("search_document"), held))
        .order_by("-score", "aic_id")[:k]
    )
    return ListingStatement.compile(rows, "score", LISTED_FIELDS)


@functools.lru_cache(maxsize=256)
def _leader_statement(filters: SearchFilters, k: int) -> ListingStatement:
    """A frequent word's first k listed artworks that pass ``filters``, in the list's order, scored
    as ``_text_statement`` scores an artwork holding ``held`` words."""
    rows = (
        WordLeader.objects.filter(filters.as_q("artwork__"), visible_q("artwork__"), lexeme=Slot("word", TextField()))
        .annotate(score=_keyword_score(F("artwork__search_document"), Slot("held", FloatField())))
        .order_by("-impact", "aic_id")
        .select_related("artwork")[:k]
    )
    return ListingStatement.compile(rows, "score", LISTED_FIELDS, prefix="artwork__")


def _keyword_score(document: F, held: Expression) -> Expression:
    """(words held + ts_rank / (ts_rank + 1)) / (words + 1), in [0, 1).

    ts_rank without length normalisation (a long description does not dilute the words it holds),
    as rank / (rank + 1) (normalisation 32), computed once per row.
    """
    rank = SearchRank(document, Cast(Slot("any_word", TextField()), SearchQueryField()), normalization=32)
    return (held + rank) / (Slot("words", FloatField()) + 1.0)
