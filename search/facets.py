"""Facet counts: how many of the artworks a search reads have each value of a field, in one statement.

The artworks counted are those that answer the query under the filters (docs/api.md):

- keyword: every visible artwork whose text holds any of the query's words (synonyms widening it),
  at most SEARCH_FACET_TEXT_MATCHES of them (``FacetCounts.complete`` says whether there were more);
- semantic: the SEARCH_HYBRID_CANDIDATES artworks nearest to the query (the vector candidates hybrid
  fuses): a walk as deep as the pages may go costs many times the search itself. The statement
  walks the index for them under the date and yes/no filters;
- hybrid: both of those, each artwork once; the nearest are those the ranking read, under every
  filter (``SearchPage.nearest``), so a picked value's own facet counts its text matches alone.

The counts are disjunctive: a field's own filter does not narrow its own counts, so a visitor who
picked one department sees how many each other department would add. Each facet lists its
FACET_VALUES most frequent values, and always the values its filter picked. Semantic's near
artworks are read under the date and yes/no filters, then narrowed by the value filters like the
text matches.

One statement reads the artworks (a materialised CTE per set counted: every filter, and for each
picked value facet every filter but its own) and groups them once per facet (UNION ALL of GROUP
BYs, an array field ``unnest``-ed); keyword and hybrid first read the query's words
(``query_units``, one more round trip).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.search import SearchQueryField
from django.db import connection
from django.db.models import (
    BigIntegerField,
    BooleanField,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    Q,
    QuerySet,
    TextField,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from pgvector.django import VectorField

from catalog.models import Artwork, visible_q
from embeddings.models import ArtworkEmbedding, EmbeddingModel
from embeddings.vector_sql import raw_connection
from search.filters import VALUE_FILTERS, SearchFilters
from search.keyword import MatchesQuery, query_units, units_tsquery
from search.query_cache import embed_query
from search.statements import Slot
from search.types import Mode
from search.vector import walking_cursor

# How many values each facet lists (those its filter picked come on top of these).
FACET_VALUES = 10


class Kind(StrEnum):
    TEXT = "text"  # one value per artwork
    ARRAY = "array"  # a list of titles per artwork
    YES_NO = "yes_no"
    CENTURY = "century"


@dataclass(frozen=True)
class Facet:
    """One facet: its name in the API (the filter parameter it feeds), the column, and its kind."""

    name: str
    column: str
    kind: Kind


FACETS = (
    Facet("department", "department_title", Kind.TEXT),
    Facet("artwork_type", "artwork_type_title", Kind.TEXT),
    Facet("classification", "classification_titles", Kind.ARRAY),
    Facet("artist", "artist_title", Kind.TEXT),
    Facet("style", "style_titles", Kind.ARRAY),
    Facet("subject", "subject_titles", Kind.ARRAY),
    Facet("place", "place_of_origin", Kind.TEXT),
    Facet("century", "", Kind.CENTURY),
    Facet("is_public_domain", "is_public_domain", Kind.YES_NO),
    Facet("is_on_view", "is_on_view", Kind.YES_NO),
    Facet("has_image", "with_image", Kind.YES_NO),
)

FacetValue = dict[str, str | int | bool]

# The label of the rows that say how many text matches a set of hits read.
_TEXT_READ = "_text_read"


class FacetCounts(dict[str, list[FacetValue]]):
    """Each facet's values and counts, by facet name. ``complete`` is False where the words of a keyword
    or hybrid search matched SEARCH_FACET_TEXT_MATCHES artworks or more: then the counts are of the
    first that many text matches (in the table's order, not the ranking's), and of the nearest artworks."""

    complete: bool = True


def facet_counts(
    query: str,
    mode: Mode,
    filters: SearchFilters,
    model: EmbeddingModel | None,
    nearest: Sequence[int] | None = None,
) -> FacetCounts:
    """Each facet's values among the artworks that answer ``query`` under ``filters``, most frequent
    first: ``{"department": [{"value": "Painting and Sculpture of Europe", "count": 12}, …], …}``.

    A century's value is its first year (1800 for 1800 to 1899): ``date_from=1800&date_to=1899`` narrows
    to it, and an artwork counts in every century its dates overlap. ``model`` ranks semantic and
    hybrid searches (the query's vector comes from the query cache, where the search left it).
    ``nearest``: the SEARCH_HYBRID_CANDIDATES artworks nearest to the query under ``filters``, as the
    search read them (``SearchPage.nearest``), counted instead of walking the index again. They pass
    every filter, so the facets of a picked value filter, which drop that filter, count the text
    matches alone; without ``nearest`` (semantic) the index is walked under the date and yes/no
    filters and the nearest are narrowed by the value filters.

    A query whose words match SEARCH_FACET_TEXT_MATCHES artworks or more counts the first that many
    (``complete`` False): counting every match of a common word in a large catalog costs more
    than the search (bench.facets at 1M).
    """
    counts = FacetCounts({facet.name: [] for facet in FACETS})
    text_limit = settings.SEARCH_FACET_TEXT_MATCHES
    reads_words = mode in (Mode.KEYWORD, Mode.HYBRID)
    reads_vectors = mode in (Mode.SEMANTIC, Mode.HYBRID) and model is not None
    reads_vectors = reads_vectors and not filters.without_values().excludes_vectors
    given_nearest = reads_vectors and nearest is not None
    walks = reads_vectors and not given_nearest
    values: dict[str, Any] = {}
    with walking_cursor() if walks else psycopg.Cursor(raw_connection()) as cursor:
        if reads_words:
            units = query_units(cursor, query).units
            reads_words = bool(units)
            values["any_word"] = units_tsquery(units, 1) if units else ""
        if not reads_words and not reads_vectors:
            return counts
        if given_nearest:
            assert nearest is not None
            values["nearest"] = list(nearest)
        elif walks:
            assert model is not None
            values["vector"] = np.asarray(embed_query(model, query), dtype=np.float32)
        statement = _facet_statement(
            filters,
            reads_words,
            model if walks else None,
            model.dimension if walks and model else 0,
            settings.SEARCH_HYBRID_CANDIDATES,
            given_nearest=given_nearest,
            text_limit=text_limit,
        )
        with connection.wrap_database_errors:
            rows = statement.run(cursor, **values)
    for name, value, count in rows:
        if name == _TEXT_READ:
            counts.complete = counts.complete and not (text_limit and count >= text_limit)
            continue
        counts[name].append({"value": _typed(name, value), "count": int(count)})
    for name, listed in counts.items():
        if name == "century":
            listed.sort(key=lambda item: item["value"])
        else:
            listed.sort(key=lambda item: (-int(item["count"]), str(item["value"])))
    return counts


def _typed(name: str, value: str) -> str | int | bool:
    if name == "century":
        return int(value)
    if name in ("is_public_domain", "is_on_view", "has_image"):
        return value == "true"
    return value


class _IsAnyOf(Func):
    """value = ANY(array): _IsAnyOf(value, array)."""

    template = "%(expressions)s)"
    arg_joiner = " = ANY("
    output_field = BooleanField()


@dataclass(frozen=True)
class FacetStatement:
    """The facet statement's SQL and parameters, ``Slot`` where the query's words or vector go."""

    compiled_sql: str  # compiled by the ORM: every value a visitor sends is a parameter
    params: tuple[Any, ...]

    def bind(self, **values: Any) -> list[Any]:
        return [values[param.name] if isinstance(param, Slot) else param for param in self.params]

    def run(self, cursor: psycopg.Cursor[Any], **values: Any) -> list[Any]:
        """The rows of the statement with ``values`` in its slots."""
        cursor.execute(self.compiled_sql, self.bind(**values))
        return cursor.fetchall()


@functools.lru_cache(maxsize=256)
def _facet_statement(
    filters: SearchFilters,
    reads_words: bool,
    model: EmbeddingModel | None,
    dimension: int,
    depth: int,
    *,
    given_nearest: bool = False,
    text_limit: int = 0,
) -> FacetStatement:
    # ``dimension`` is part of the key: a model instance compares by primary key alone.
    matches = MatchesQuery(F("search_document"), Cast(Slot("any_word", TextField()), SearchQueryField()))
    ctes: list[tuple[str, str, list[Any]]] = []
    near: Q | None = None
    if given_nearest:
        listed = Cast(Slot("nearest", ArrayField(IntegerField())), ArrayField(BigIntegerField()))
        near = Q(_IsAnyOf(F("pk"), listed))
    elif model is not None:
        base = filters.without_values()
        nearest = (
            ArtworkEmbedding.objects.filter(base.as_q("artwork__"), visible_q("artwork__"), model=model)
            .order_by(model.index_distance(Slot("vector", VectorField(dimensions=dimension))))
            .values("artwork_id")[:depth]
        )
        near_sql, near_params = nearest.query.sql_with_params()
        ctes.append(("facet_near", near_sql, list(near_params)))
        near = Q(pk__in=RawSQL("SELECT artwork_id FROM facet_near", ()))
    # One set of hits per filter set counted: every filter (for the facets no filter picked), and for
    # each picked value facet every filter but its own (its counts are disjunctive).
    picked = [name for name in VALUE_FILTERS if getattr(filters, name)]
    for name, counted in [("hits", filters), *((f"hits_{pick}", _without(filters, pick)) for pick in picked)]:
        values_q = SearchFilters(**{value: getattr(counted, value) for value in VALUE_FILTERS}).as_q()
        parts: list[QuerySet[Any]] = []
        if reads_words:
            text = _counted_rows(filters).filter(matches, values_q).annotate(from_words=Value(True))
            parts.append(text[:text_limit] if text_limit else text)
        # The ranking's nearest were read under every filter: a picked facet's own set, which drops its
        # filter, counts its text matches alone (walking the index for it would cost more than the rest).
        if near is not None and (name == "hits" or not given_nearest or not reads_words):
            # Hybrid: a near artwork whose words match is among the text matches already.
            rows = _counted_rows(filters).filter(near, values_q).annotate(from_words=Value(False))
            parts.append(rows.filter(~Q(matches)) if reads_words else rows)
        compiled = [part.query.sql_with_params() for part in parts]
        ctes.append(
            (name, " UNION ALL ".join(f"({sql})" for sql, _ in compiled), [p for _, ps in compiled for p in ps])
        )
    statement_params: list[Any] = [param for _, _, cte_params in ctes for param in cte_params]
    branches = []
    for facet in FACETS:
        sql, branch_params = _branch(facet, filters, "hits_" + facet.name if facet.name in picked else "hits")
        branches.append(f"({sql})")
        statement_params += branch_params
    if reads_words:
        # How many text matches each set read: ``text_limit`` of them, and there may be more.
        branches += [
            f"(SELECT '{_TEXT_READ}', '', count(*) FROM {name} WHERE from_words)"
            for name, _, _ in ctes[-1 - len(picked) :]
        ]
    with_ = ", ".join(f"{name} AS MATERIALIZED ({sql})" for name, sql, _ in ctes)
    return FacetStatement(f"WITH {with_} {' UNION ALL '.join(branches)}", tuple(statement_params))


def _without(filters: SearchFilters, name: str) -> SearchFilters:
    """``filters`` less one value filter."""
    emptied: dict[str, Any] = {name: () if isinstance(getattr(filters, name), tuple) else None}
    return replace(filters, **emptied)


def _counted_rows(filters: SearchFilters) -> QuerySet[Any]:
    """The visible artworks under the date and yes/no filters, as the facets read them: each counted
    column, and for each value filter set whether the artwork passes it (``pass_<filter>``)."""
    flags = {
        f"pass_{name}": ExpressionWrapper(SearchFilters(**{name: getattr(filters, name)}).as_q(), BooleanField())
        for name in VALUE_FILTERS
        if getattr(filters, name)
    }
    columns = [facet.column for facet in FACETS if facet.kind != Kind.CENTURY and facet.column != "with_image"]
    return (
        Artwork.objects.filter(filters.without_values().as_q(), visible_q())
        .annotate(with_image=ExpressionWrapper(~Q(image_id=""), BooleanField()), **flags)
        .order_by()
        .values(*columns, "date_start", "date_end", "with_image", *flags)
    )


def _branch(facet: Facet, filters: SearchFilters, hits: str) -> tuple[str, list[Any]]:
    """One facet's GROUP BY over ``hits``: the set that passes every value filter but the facet's own."""
    label = f"'{facet.name}'"
    picked = getattr(filters, facet.name) if facet.name in VALUE_FILTERS else None
    picks = (1 if isinstance(picked, str) else len(picked)) if picked else 0
    if facet.kind == Kind.TEXT:
        # A picked value is listed, however few hold it, so a visitor can drop it.
        first = f"bool_or(pass_{facet.name}) DESC, " if picked else ""
        return (
            f"SELECT {label}, {facet.column}, count(*) FROM {hits} WHERE {facet.column} <> '' "
            f"GROUP BY 2 ORDER BY {first}3 DESC, 2 LIMIT {FACET_VALUES + picks}",
            [],
        )
    if facet.kind == Kind.ARRAY:
        first = "bool_or(title = ANY(%s::text[])) DESC, " if picked else ""
        return (
            f"SELECT {label}, title, count(*) FROM {hits}, unnest({facet.column}) AS title "
            f"WHERE title <> '' GROUP BY 2 ORDER BY {first}3 DESC, 2 "
            f"LIMIT {FACET_VALUES + picks}",
            [list(picked)] if picked else [],
        )
    if facet.kind == Kind.CENTURY:
        span = (
            "generate_series(floor(coalesce(date_start, date_end) / 100.0)::int, "
            "floor(coalesce(date_end, date_start) / 100.0)::int)"
        )
        return (
            f"SELECT {label}, (century * 100)::text, count(*) FROM {hits}, {span} AS century "
            f"GROUP BY century ORDER BY 3 DESC, century LIMIT {FACET_VALUES}",
            [],
        )
    return f"SELECT {label}, {facet.column}::text, count(*) FROM {hits} GROUP BY 2", []
