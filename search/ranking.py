"""One page of search results: the mode's ranking, optionally re-sorted by date, cut to the page.

- keyword: full-text search (search/keyword.py), artworks holding more of the query's words first.
- semantic: the query's CLIP text vector against the artworks' image vectors (search/vector.py).
- hybrid (the default): both lists fused by weighted reciprocal rank fusion (search/fusion.py).

Curator boosts are added to every mode's score. Artworks a curator pinned to the query
(catalog.models.QueryPin) come first in relevance order, in the pins' order, then the ranking
without them.

Weak matches come last: a semantic-only hit (in hybrid, one the keyword list does not hold) whose
similarity is below the model's calibrated threshold (EmbeddingModel.match_threshold) is marked
``weak`` and moved after every strong hit, so a page lists its strong hits first and folds the weak
ones. Near-duplicates (the same image in several records, prints of one plate) among a page's
candidates fold into the first of them (``similar``). The hits of the page then get their match
reasons: the query's words each one holds and a highlighted snippet (search/keyword.py).
"""

from __future__ import annotations

import dataclasses
import functools
import time

import numpy as np
import psycopg
from django.conf import settings
from django.db.models import TextField
from django.utils.translation import gettext as _

from catalog.models import Artwork, QueryPin, normalised_query, visible_q
from embeddings.models import EmbeddingModel
from embeddings.vector_sql import raw_connection
from search.filters import SearchFilters
from search.fusion import FusionWeights, hybrid_ranking
from search.keyword import keyword_hits, page_reasons
from search.metrics import SEARCH_SECONDS
from search.query_cache import embed_query
from search.statements import LISTED_FIELDS, ListingStatement, Slot
from search.types import Hit, Mode, SearchError, SearchPage, Sort
from search.vector import active_model, image_vectors, nearest

# Image vectors closer than this (cosine similarity) are one image: a re-photographed record, a print of
# the same plate.
NEAR_DUPLICATE_SIMILARITY = 0.98


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
    # A page more than the page needs: near-duplicates folded away leave room that it fills.
    compared = needed + page_size
    depth = compared if sort == Sort.RELEVANCE else settings.SEARCH_SORT_WINDOW
    started = time.perf_counter()
    if mode == Mode.KEYWORD:
        model = None
    elif model is None:
        model = active_model()
    nearest_read = None
    if mode == Mode.KEYWORD:
        ranked = keyword_hits(query, depth, filters)
    elif mode == Mode.SEMANTIC:
        assert model is not None
        ranked = nearest(model, embed_query(model, query), depth, filters=filters)
    else:
        assert model is not None
        hybrid = hybrid_ranking(model, query, depth, filters, weights)
        ranked, nearest_read = hybrid.hits, hybrid.nearest[: settings.SEARCH_HYBRID_CANDIDATES]
    if sort == Sort.RELEVANCE:
        ranked = pinned_first(query, ranked, filters)
    SEARCH_SECONDS.labels(mode=mode.value).observe(time.perf_counter() - started)
    if sort != Sort.RELEVANCE:
        ranked = sort_by_date(ranked, newest_first=sort == Sort.DATE_DESC)
    threshold = None if mode == Mode.KEYWORD or model is None else model.match_threshold
    ranked = strong_first(mark_weak(ranked, threshold, keyword_vouches=mode == Mode.HYBRID))
    # Only the candidates up to this page's end (and a page more, to fill it again) are compared.
    ranked = fold_near_duplicates(ranked[:compared], model) + ranked[compared:]
    hits, has_next = cut_page(ranked, page, page_size)
    hits = with_reasons(query, hits)
    return SearchPage(
        model=model,
        hits=hits,
        page=page,
        page_size=page_size,
        has_next=has_next,
        mode=mode,
        filters=filters,
        nearest=nearest_read,
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


def mark_weak(hits: list[Hit], threshold: float | None, *, keyword_vouches: bool) -> list[Hit]:
    """``hits`` with each weak one marked, and each whose image matches marked ``visual_match``.

    A hit is weak when its similarity is below ``threshold``, unless a curator pinned it or (with
    ``keyword_vouches``, in hybrid) the keyword list holds it: its words match. With no threshold
    (the model was never calibrated) no hit is weak and none is a visual match.
    """
    if threshold is None:
        return hits
    marked = []
    for hit in hits:
        if hit.similarity is None:
            marked.append(hit)
            continue
        below = hit.similarity < threshold
        weak = below and not hit.pinned and not (keyword_vouches and hit.keyword_rank is not None)
        marked.append(dataclasses.replace(hit, weak=weak, visual_match=not below))
    return marked


def strong_first(hits: list[Hit]) -> list[Hit]:
    """The strong hits, then the weak ones, each in their order."""
    return [hit for hit in hits if not hit.weak] + [hit for hit in hits if hit.weak]


def fold_near_duplicates(hits: list[Hit], model: EmbeddingModel | None) -> list[Hit]:
    """``hits`` with each near-duplicate folded into the first hit it duplicates (listed in its ``similar``).

    Two artworks are near-duplicates when they share an image id, or when they share an artist and
    their image vectors' cosine similarity is above NEAR_DUPLICATE_SIMILARITY under a ``model`` that was
    calibrated (EmbeddingModel.match_threshold): one query reads the vectors. An uncalibrated model is
    not trusted to tell images apart (a barely trained one puts most images that close), and sharing
    an artist keeps two different works that merely look alike apart. A pinned artwork is never folded
    into another.
    """
    if len(hits) < 2:
        return hits
    compares_vectors = model is not None and model.match_threshold is not None
    vectors = image_vectors(model, [hit.artwork.pk for hit in hits]) if model is not None and compares_vectors else {}
    with_vector = [i for i, hit in enumerate(hits) if hit.artwork.pk in vectors]
    close: set[tuple[int, int]] = set()
    if len(with_vector) > 1:
        matrix = np.stack([vectors[hits[i].artwork.pk] for i in with_vector])
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        rows, columns = np.nonzero(np.triu(matrix @ matrix.T, k=1) > NEAR_DUPLICATE_SIMILARITY)
        close = {(with_vector[row], with_vector[column]) for row, column in zip(rows, columns, strict=True)}
    kept: list[int] = []
    folded: dict[int, list[int]] = {}
    for i, hit in enumerate(hits):
        first = None
        if not hit.pinned:
            first = next((j for j in kept if _duplicates(hits[j].artwork, hit.artwork, (j, i) in close)), None)
        if first is None:
            kept.append(i)
        else:
            folded.setdefault(first, []).append(hit.artwork.aic_id)
    return [dataclasses.replace(hits[i], similar=tuple(folded[i])) if i in folded else hits[i] for i in kept]


def _duplicates(first: Artwork, other: Artwork, close_vectors: bool) -> bool:
    """Whether ``other`` is a near-duplicate of ``first``: the same image, or the same artist and close vectors."""
    if first.image_id and first.image_id == other.image_id:
        return True
    return close_vectors and first.artist_display == other.artist_display


def with_reasons(query: str, hits: list[Hit]) -> list[Hit]:
    """The page's ``hits`` with their matched words and highlighted snippets (one query)."""
    reasons = page_reasons(query, [hit.artwork.pk for hit in hits])
    return [
        dataclasses.replace(hit, matched_terms=reason.matched_terms, snippet=reason.snippet)
        if (reason := reasons.get(hit.artwork.pk))
        else hit
        for hit in hits
    ]
