"""One page of search results: the mode's ranking, optionally re-sorted by date, cut to the page.

- keyword: full-text search (search/keyword.py), artworks holding more of the query's words first.
- semantic: the query's CLIP text vector against the artworks' image vectors (search/vector.py).
- hybrid (the default): both lists fused by weighted reciprocal rank fusion (search/fusion.py).

Curator boosts are added to every mode's score. Artworks a curator pinned to the query
(catalog.models.QueryPin) come first in relevance order, in the pins' order, then the ranking
without them.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import psycopg
from django.conf import settings
from django.db.models import TextField
from django.utils.translation import gettext as _

from catalog.models import QueryPin, normalised_query, visible_q
from embeddings.models import EmbeddingModel
from embeddings.vector_sql import raw_connection
from search.filters import SearchFilters
from search.fusion import FusionWeights, hybrid_hits
from search.keyword import keyword_hits
from search.metrics import SEARCH_SECONDS
from search.query_cache import embed_query
from search.statements import LISTED_FIELDS, ListingStatement, Slot
from search.types import Hit, Mode, SearchError, SearchPage, Sort
from search.vector import active_model, nearest


def search(
    query: str,
    *,
    mode: Mode = Mode.HYBRID,
    filters: SearchFilters | None = None,
    page: int = 1,
    page_size: int = 24,
    sort: Sort = Sort.RELEVANCE,
    model: EmbeddingModel | None = None,
    weights: FusionWeights | None = None,
) -> SearchPage:
    """One page of artworks for ``query``: ranked by ``mode``, narrowed by ``filters``, ordered by ``sort``.

    ``model``: the model whose vectors rank semantic and hybrid searches; the active one when None
    (what every visitor's search uses; ``evaluate_search --model`` measures another). ``weights``:
    hybrid's fusion constants, the settings' when None.

    Date order re-sorts the SEARCH_SORT_WINDOW most relevant artworks, so a date-ordered page
    holds only artworks that answer the query, and every page sorts the same window.
    """
    filters = filters or SearchFilters()
    needed = page_depth(page, page_size)
    depth = needed if sort == Sort.RELEVANCE else settings.SEARCH_SORT_WINDOW
    started = time.perf_counter()
    if mode == Mode.KEYWORD:
        model = None
    elif model is None:
        model = active_model()
    if mode == Mode.KEYWORD:
        ranked = keyword_hits(query, depth, filters)
    elif mode == Mode.SEMANTIC:
        assert model is not None
        ranked = nearest(model, embed_query(model, query), depth, filters=filters)
    else:
        assert model is not None
        ranked = hybrid_hits(model, query, depth, filters, weights)
    if sort == Sort.RELEVANCE:
        ranked = pinned_first(query, ranked, filters)
    SEARCH_SECONDS.labels(mode=mode.value).observe(time.perf_counter() - started)
    if sort != Sort.RELEVANCE:
        ranked = sort_by_date(ranked, newest_first=sort == Sort.DATE_DESC)
    hits, has_next = cut_page(ranked, page, page_size)
    return SearchPage(
        model=model,
        hits=hits,
        page=page,
        page_size=page_size,
        has_next=has_next,
        mode=mode,
        filters=filters,
    )


# The most pins of one query a search reads: more would fill pages no one reaches.
MAX_PINS = 100


def pinned_first(query: str, ranked: list[Hit], filters: SearchFilters) -> list[Hit]:
    """``ranked`` with the artworks pinned to ``query`` first, marked ``pinned``, each once.

    A pinned artwork keeps its score when the ranking found it, else scores 0. Pins of hidden,
    withdrawn or filtered-out artworks are passed over.
    """
    with psycopg.Cursor(raw_connection()) as cursor:
        pins = _pin_statement(filters).run(cursor, query=normalised_query(query))
    if not pins:
        return ranked
    found = {hit.artwork.pk: hit for hit in ranked}
    first = [
        dataclasses.replace(found[artwork.pk], pinned=True) if artwork.pk in found else Hit(artwork, 0.0, pinned=True)
        for artwork, _ in pins
    ]
    pinned = {hit.artwork.pk for hit in first}
    return first + [hit for hit in ranked if hit.artwork.pk not in pinned]


@functools.lru_cache(maxsize=256)
def _pin_statement(filters: SearchFilters) -> ListingStatement:
    """The visible artworks pinned to a normalised query that pass ``filters``, in the pins' order."""
    rows = (
        QueryPin.objects.filter(filters.as_q("artwork__"), visible_q("artwork__"), query=Slot("query", TextField()))
        .order_by("position", "pk")
        .select_related("artwork")[:MAX_PINS]
    )
    return ListingStatement.compile(rows, "position", LISTED_FIELDS, prefix="artwork__")


def page_depth(page: int, page_size: int) -> int:
    """How many hits a page needs ranked: those of the pages before it, its own, and one more to know
    whether a next page exists; SearchError for a page past the first SEARCH_MAX_RESULTS."""
    if page * page_size > settings.SEARCH_MAX_RESULTS:
        raise SearchError(
            _("page %(page)s is past the first %(limit)s results")
            % {"page": page, "limit": settings.SEARCH_MAX_RESULTS}
        )
    return page * page_size + 1


def cut_page(ranked: list[Hit], page: int, page_size: int) -> tuple[list[Hit], bool]:
    """The hits of ``page`` (1-based) in ``ranked``, and whether another page follows."""
    start = (page - 1) * page_size
    return ranked[start : start + page_size], len(ranked) > start + page_size


def sort_by_date(hits: list[Hit], *, newest_first: bool) -> list[Hit]:
    """Order by start year (undated last), keeping relevance order among equal years."""
    dated = [hit for hit in hits if hit.artwork.date_start is not None]
    undated = [hit for hit in hits if hit.artwork.date_start is None]
    dated.sort(key=lambda hit: hit.artwork.date_start or 0, reverse=newest_first)
    return dated + undated
