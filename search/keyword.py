"""Full-text ranking: PostgreSQL full-text search over Artwork.search_document, tier by tier.

The document holds the title (weight A), the artist (B), and the description, medium and subject
terms (C). Artworks holding more of the query's words rank first, then by ts_rank, so a page of
them ranks only the few that hold the most words; in the last tier a frequent word's matches come
from its list of leaders (catalog/word_leaders.py).

Curators' synonyms (catalog.models.Synonym) widen the query: a word or phrase of the query that a
synonym row names becomes one "word" held by a document holding any of the row's terms, each as a
phrase ('claude' <-> 'monet').

The document holds its words without accents (catalog.models.Unaccented); the query's words lose
theirs through the same SQL function, so "Durer" and "Dürer" find the same artworks.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Any

import psycopg
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.search import SearchQueryField, SearchRank
from django.db import connection
from django.db.models import BooleanField, Expression, F, FloatField, Func, TextField
from django.db.models.functions import Cast
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from catalog.models import SEARCH_CONFIG, Artwork, FrequentWord, Synonym, WordLeader, query_words, visible_q
from embeddings.vector_sql import raw_connection
from search.filters import SearchFilters
from search.metrics import KEYWORD_LEADER_READS
from search.statements import LISTED_FIELDS, ListingStatement, Slot
from search.types import Hit, by_score

_FREQUENT_WORDS = FrequentWord._meta.db_table
_SYNONYMS = Synonym._meta.db_table

# The longest phrase of a query looked up among the synonyms, in words.
MAX_SYNONYM_WORDS = 6


class UnitsHeld(Func):
    """How many of the tsqueries ``units`` (a tsquery[]) the tsvector ``document`` matches:
    UnitsHeld(units, document)."""

    template = "(SELECT count(*)::float8 FROM unnest(%(expressions)s)"
    arg_joiner = ") AS unit(q) WHERE unit.q @@ "
    output_field = FloatField()


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
        words = query_units(cursor, query)
        units = words.units
        tiers = coverage_tiers(len(units)) if units else []
        any_word = units_tsquery(units, 1)
        for above, held in zip([len(units) + 1, *tiers], tiers, strict=False):
            # A tier below a skipped one holds artworks with different counts of words: count them.
            counts_words = above - held > 1
            # A tier matches the fewer than k artworks found above it too (cheaper than excluding
            # them row by row), so its k best hold at least the k still missing.
            seen = {artwork.pk for artwork, _ in found}
            values = {
                "any_word": any_word,
                "terms": words.lexemes,
                "units": units,
                "held": float(held),
                "words": float(len(units)),
            }
            ranked = None
            if held == 1 and not counts_words and not words.expanded:
                # Every artwork still missing holds exactly one of the words. (A synonym's unit
                # has no leader list: an expanded query ranks its last tier in full.)
                ranked = _one_word_matches(cursor, words.lexemes, filters, k, values)
            if ranked is None:
                statement = _text_statement(filters, k, counts_words=counts_words, expanded=words.expanded)
                ranked = statement.run(cursor, tier=units_tsquery(units, held), **values)
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


@dataclass(frozen=True)
class QueryUnits:
    """What keyword search looks for: ``units``, the tsquery text of each "word" an artwork may hold.

    Without synonyms each unit is one of the query's ``lexemes``; ``expanded`` says that synonyms
    made some unit an OR of phrases (then ``lexemes`` are those of the words no synonym took).
    """

    units: list[str]
    lexemes: list[str]
    expanded: bool


def query_units(cursor: psycopg.Cursor[Any], query: str) -> QueryUnits:
    """The units of ``query``: its lexemes, widened by the synonyms naming its words or phrases.

    One round trip reads the lexemes and the synonym rows naming any phrase of the query (an index
    scan); a second, only when some row does, makes the phrases' tsqueries.
    """
    words = query_words(query)
    phrases = list(
        dict.fromkeys(
            " ".join(words[start:end])
            for start in range(len(words))
            for end in range(start + 1, min(start + MAX_SYNONYM_WORDS, len(words)) + 1)
        )
    )
    with connection.wrap_database_errors:
        cursor.execute(
            "SELECT tsvector_to_array(to_tsvector(%s::regconfig, catalog_unaccent(%s))), "
            f"(SELECT array_agg(array_to_string(normalised_terms, ',')) FROM {_SYNONYMS} "
            "WHERE normalised_terms && string_to_array(%s, ','))",
            # One string, not a text[]: binding a list costs more than the lookup (words hold no comma).
            [SEARCH_CONFIG, query, ",".join(phrases)],
        )
        row = cursor.fetchone()
    lexemes = list(row[0]) if row else []
    groups = [group.split(",") for group in (row[1] if row and row[1] else [])]
    if not groups:
        return QueryUnits([quote_lexeme(lexeme) for lexeme in lexemes], lexemes, expanded=False)
    return _expanded_units(cursor, words, groups)


def _expanded_units(cursor: psycopg.Cursor[Any], words: list[str], groups: list[list[str]]) -> QueryUnits:
    """The units of the query ``words`` when synonym ``groups`` name some of its phrases.

    From the left, the longest phrase a group names becomes one unit: that phrase or any term
    equivalent to it (a term in several groups stands for all of them). The words left over are
    units of their own, as without synonyms.
    """
    equivalents: dict[str, list[str]] = {}
    for group in groups:
        for term in group:
            equivalents[term] = list(dict.fromkeys([*equivalents.get(term, [term]), *group]))
    alternatives: list[list[str]] = []
    rest: list[str] = []
    start = 0
    while start < len(words):
        for end in range(min(start + MAX_SYNONYM_WORDS, len(words)), start, -1):
            phrase = " ".join(words[start:end])
            if phrase in equivalents:
                alternatives.append(equivalents[phrase])
                start = end
                break
        else:
            rest.append(words[start])
            start += 1
    flat = [term for terms in alternatives for term in terms]
    with connection.wrap_database_errors:
        cursor.execute(
            "SELECT tsvector_to_array(to_tsvector(%s::regconfig, catalog_unaccent(%s))), "
            "ARRAY(SELECT phraseto_tsquery(%s::regconfig, catalog_unaccent(term))::text "
            "FROM unnest(%s::text[]) WITH ORDINALITY AS a(term, n) ORDER BY n)",
            [SEARCH_CONFIG, " ".join(rest), SEARCH_CONFIG, flat],
        )
        row = cursor.fetchone()
    lexemes = list(row[0]) if row else []
    phrase_queries = iter(row[1] if row else [])
    units: list[str] = []
    for terms in alternatives:
        # A stop word alone ("the") makes an empty tsquery: it matches nothing and is dropped.
        found = [text for text in (next(phrase_queries) for _ in terms) if text]
        if found:
            units.append(" | ".join(f"( {text} )" for text in dict.fromkeys(found)))
    units += [quote_lexeme(lexeme) for lexeme in lexemes]
    return QueryUnits(list(dict.fromkeys(units)), lexemes, expanded=True)


# A tier's tsquery lists every set of that many words; past this many sets the tier is skipped
# (the next one down asks for fewer words, and the last, any word, is one set per word).
MAX_TIER_WORD_SETS = 64


def coverage_tiers(words: int) -> list[int]:
    """How many of the query's ``words`` each successive statement asks an artwork to hold."""
    return [held for held in range(words, 0, -1) if held in (1, words) or math.comb(words, held) <= MAX_TIER_WORD_SETS]


def quote_lexeme(lexeme: str) -> str:
    """``lexeme`` as a tsquery operand."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def words_tsquery(terms: list[str], held: int) -> str:
    """tsquery text matching documents that hold at least ``held`` of the lexemes ``terms``."""
    return units_tsquery([quote_lexeme(term) for term in terms], held)


def units_tsquery(units: list[str], held: int) -> str:
    """tsquery text matching documents that match at least ``held`` of the tsquery texts ``units``."""
    if held == 1:
        return " | ".join(units)
    grouped = [f"({unit})" if "|" in unit else unit for unit in units]
    return " | ".join("(" + " & ".join(words) + ")" for words in itertools.combinations(grouped, held))


def words_held(document: F, terms: Expression) -> Expression:
    """How many of the lexemes ``terms`` (a text[]) the tsvector ``document`` holds."""
    lexemes = functools.partial(Func, function="length", output_field=FloatField())
    without_terms = Func(document, Cast(terms, ArrayField(TextField())), function="ts_delete")
    return lexemes(document) - lexemes(without_terms)


@functools.lru_cache(maxsize=256)
def _text_statement(filters: SearchFilters, k: int, *, counts_words: bool, expanded: bool = False) -> ListingStatement:
    """The best k artworks holding at least ``held`` words, scored as holding ``held`` or, with
    ``counts_words``, as many as they hold (the lexemes ``terms``, or with ``expanded`` the
    tsqueries ``units``)."""
    matches = MatchesQuery(F("search_document"), Cast(Slot("tier", TextField()), SearchQueryField()))
    if counts_words and expanded:
        units = Cast(Slot("units", TextField()), ArrayField(SearchQueryField()))
        held: Expression = UnitsHeld(units, F("search_document"))
    elif counts_words:
        held = words_held(F("search_document"), Slot("terms", TextField()))
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


# ts_headline marks the query's words with these private-use characters (removed from the text
# first), so the text can be HTML-escaped whole and the marks made <mark> elements after.
_START_MARK = "\ue000"
_STOP_MARK = "\ue001"
_HEADLINE_OPTIONS = (
    f'StartSel={_START_MARK}, StopSel={_STOP_MARK}, MaxWords=28, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "'
)
# The text a snippet is cut from: what the full-text document holds that a result card does not show
# already (the title and artist come first, so a match there is shown too), its HTML tags dropped.
_SNIPPET_TEXT = (
    "regexp_replace(translate(concat_ws(' · ', nullif(a.title, ''), nullif(a.artist_display, ''), "
    "coalesce(nullif(a.description_override, ''), nullif(a.description, ''), nullif(a.short_description, '')), "
    "nullif(a.medium_display, ''), nullif(array_to_string(a.subject_titles, ', '), '')), %(marks)s, ''), "
    "'<[^>]*>', ' ', 'g')"
)
_REASONS_SQL = f"""
WITH words AS (
    SELECT w.word, plainto_tsquery(%(config)s::regconfig, w.word) AS q, w.n
    FROM unnest(%(words)s::text[]) WITH ORDINALITY AS w(word, n)
), wanted AS (
    SELECT coalesce(string_agg('(' || q::text || ')', ' | '), '')::tsquery AS q FROM words WHERE numnode(q) > 0
)
SELECT a.id,
    ts_headline(%(config)s::regconfig, {_SNIPPET_TEXT}, (SELECT q FROM wanted), %(options)s),
    ARRAY(SELECT word FROM words WHERE numnode(q) > 0 AND a.search_document @@ q ORDER BY n)
FROM {Artwork._meta.db_table} a
WHERE a.id = ANY(%(ids)s)
"""


@dataclass(frozen=True)
class MatchReason:
    """Why an artwork's text matches a query: the query's words its document holds, and a snippet of
    its text with those words highlighted (escaped HTML whose only tags are <mark>)."""

    matched_terms: tuple[str, ...]
    snippet: SafeString


def page_reasons(query: str, artwork_pks: list[int]) -> dict[int, MatchReason]:
    """The match reason of each artwork, by primary key: one query for a page of them.

    The words are the query's (``query_words``), each parsed as keyword search parses it (the
    SEARCH_CONFIG configuration: stemmed, stop words dropped); a word is matched where the artwork's
    search_document holds it.
    """
    words = list(dict.fromkeys(query_words(query)))
    if not artwork_pks:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            _REASONS_SQL,
            {
                "config": SEARCH_CONFIG,
                "words": words,
                "ids": artwork_pks,
                "marks": _START_MARK + _STOP_MARK,
                "options": _HEADLINE_OPTIONS,
            },
        )
        rows = cursor.fetchall()
    return {pk: MatchReason(tuple(matched), highlighted(headline or "")) for pk, headline, matched in rows}


def highlighted(headline: str) -> SafeString:
    """A ts_headline's text as HTML: everything escaped, then its marks made <mark> elements."""
    escaped = escape(" ".join(headline.split()))
    # Safe: the text is escaped whole above; only the two marks become tags.
    return mark_safe(escaped.replace(_START_MARK, "<mark>").replace(_STOP_MARK, "</mark>"))
