"""What the API and the pages both do: run a search, shape artworks as JSON, check health."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import Http404, HttpRequest

from catalog.models import Artwork
from catalog.sync_status import sync_health
from core.logging_limits import warn_limited
from core.recent import Recent
from core.redis_clients import redis_client
from embeddings.encoders.per_process import loaded_encoders
from embeddings.indexing import index_counts
from embeddings.models import ArtworkEmbedding, EmbeddingModel
from search.facets import facet_counts
from search.filters import SearchFilters
from search.image_query import ImageSearchParams, combined_vector, embed_upload
from search.image_tokens import keep_vector, vector_for_token
from search.params import FilterParams, SearchParams
from search.query_cache import embed_query, vectors_kept_for_the_request
from search.ranking import cut_page, page_depth, search
from search.request_cost import note_fresh_search
from search.result_cache import cached, result_key
from search.types import ArtworkWithdrawn, Hit, SearchError, SearchPage, by_score
from search.vector import active_model, nearest, similar_artworks, vector_neighbours

logger = logging.getLogger(__name__)

MAX_AIC_ID = 2_147_483_647  # Artwork.aic_id is a PostgreSQL integer
CC0 = "CC0 1.0 (https://creativecommons.org/publicdomain/zero/1.0/)"
CC_BY = "© Art Institute of Chicago, CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)"


def visible_artwork(aic_id: int) -> Artwork:
    """The visible artwork with this AIC id (what ``visible_q`` lets search show).

    Http404 when there is none or a curator hid it (hidden ones do not exist to the public);
    ArtworkWithdrawn when the source withdrew it, so a visitor with an old link learns it is gone.
    """
    artwork = Artwork.objects.filter(aic_id=aic_id, is_hidden=False).first() if 0 < aic_id <= MAX_AIC_ID else None
    if artwork is None:
        raise Http404(f"no artwork with id {aic_id}")
    if artwork.is_withdrawn:
        raise ArtworkWithdrawn(artwork)
    return artwork


def artwork_json(artwork: Artwork, score: float | None = None) -> dict[str, Any]:
    return {
        "id": artwork.aic_id,
        "title": artwork.title,
        "artist": artwork.artist_display,
        "date": artwork.date_display,
        "score": None if score is None else round(score, 6),
        "image_url": artwork.iiif_image_url(settings.AIC_IIIF_URL, "843,"),
        "thumbnail_url": artwork.iiif_image_url(settings.AIC_IIIF_URL, "200,"),
    }


def artwork_record_json(artwork: Artwork) -> dict[str, Any]:
    """The full public record of an artwork, with image links and the licence of each part."""
    return {
        **artwork_json(artwork),
        "date_start": artwork.date_start,
        "date_end": artwork.date_end,
        "place_of_origin": artwork.place_of_origin,
        "medium": artwork.medium_display,
        "dimensions": artwork.dimensions,
        "description": artwork.display_description,
        "description_license": CC_BY if artwork.display_description else "",
        "department": artwork.department_title,
        "artwork_type": artwork.artwork_type_title,
        "classifications": artwork.classification_titles,
        "styles": artwork.style_titles,
        "subjects": artwork.subject_titles,
        "terms": artwork.term_titles,
        "is_public_domain": artwork.is_public_domain,
        "is_on_view": artwork.is_on_view,
        "iiif_info_url": f"{settings.AIC_IIIF_URL}/{artwork.image_id}/info.json" if artwork.image_id else "",
        "aic_url": f"https://www.artic.edu/artworks/{artwork.aic_id}",
        "license": CC0,
    }


def hits_json(hits: list[Hit], *, reasons: bool = False) -> list[dict[str, Any]]:
    """Each hit as the API shows it; with ``reasons`` (a text search), why it matched, whether it is
    weak, and the near-duplicates folded into it."""
    shown = [{**artwork_json(hit.artwork, hit.score), "pinned": hit.pinned} for hit in hits]
    if reasons:
        for entry, hit in zip(shown, hits, strict=True):
            entry.update(why=why_json(hit), weak=hit.weak, similar=list(hit.similar))
    return shown


def why_json(hit: Hit) -> dict[str, Any]:
    """Why a hit is in the results: its place in each list (None where a list did not hold it), its
    image's similarity, the query's words its text holds, a highlighted snippet, and the curator's boost."""
    return {
        "keyword_rank": hit.keyword_rank,
        "semantic_rank": hit.semantic_rank,
        "similarity": None if hit.similarity is None else round(hit.similarity, 6),
        "visual_match": hit.visual_match,
        "matched_terms": list(hit.matched_terms),
        "snippet": str(hit.snippet),
        "boost": hit.artwork.boost,
    }


def next_link(request: HttpRequest, page: int, has_next: bool, **extra: str) -> str | None:
    """The absolute URL of the following page (the same parameters and ``extra``, page + 1), or None."""
    if not has_next:
        return None
    params = request.GET.copy()
    for name, value in extra.items():
        params[name] = value
    params["page"] = str(page + 1)
    return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")


def run_text_search(params: SearchParams) -> tuple[str, SearchPage]:
    query = params.query()
    return query, search(
        query, mode=params.mode, filters=params.filters(), page=params.page, page_size=params.size(), sort=params.sort
    )


def text_search_json(request: HttpRequest, params: SearchParams) -> dict[str, Any]:
    """The API's answer to a text search; a repeated search is answered from the result cache."""
    query = params.query()
    filters = params.filters()
    shape = {"mode": params.mode, "sort": params.sort, "page": params.page, "size": params.size(), **filters.active()}

    @vectors_kept_for_the_request()
    def compute() -> dict[str, Any]:
        note_fresh_search(request)
        _, result = run_text_search(params)
        facets = facet_counts(query, result.mode, result.filters, result.model, result.nearest)
        return {
            "query": query,
            "model": result.model.name if result.model else None,
            "mode": result.mode,
            "page": result.page,
            "page_size": result.page_size,
            "has_next": result.has_next,
            "filters": result.filters.active(),
            "match_threshold": result.match_threshold,
            "strong": result.strong,
            "results": hits_json(result.hits, reasons=True),
            "facets": facets,
            "facets_complete": facets.complete,
        }

    answer = dict(cached(result_key(query, shape), compute))
    answer["query"] = query  # the key ignores case: echo this request's spelling
    # The link is the request's own (host, scheme): never cached.
    answer["next"] = next_link(request, answer["page"], answer.pop("has_next"))
    return answer


# find(k, filters): the model searched and the k first hits of a neighbour list under ``filters``.
NeighbourFinder = Callable[[int, SearchFilters], tuple[EmbeddingModel, list[Hit]]]
# The most artworks one "more like these" search may start from.
MAX_SIMILAR_IDS = 20


@dataclass(frozen=True)
class NeighbourPage:
    """One page of a vector neighbour list."""

    model: EmbeddingModel
    hits: list[Hit]
    page: int
    page_size: int
    has_next: bool
    filters: SearchFilters


def neighbour_page(params: FilterParams, find: NeighbourFinder) -> NeighbourPage:
    """The page ``params`` ask for of the list ``find(k, filters)`` ranks."""
    filters: SearchFilters = params.filters()
    size = params.size()
    model, ranked = find(page_depth(params.page, size), filters)
    hits, has_next = cut_page(ranked, params.page, size)
    return NeighbourPage(model, hits, params.page, size, has_next, filters)


def _paged_neighbours(
    request: HttpRequest, params: FilterParams, find: NeighbourFinder, aic_id: int | None, **link: str
) -> dict[str, Any]:
    """Page through a vector neighbour list: ``find(k, filters)`` returns (model, hits) for the first k;
    ``link`` are parameters the ``next`` link carries besides the request's own."""
    found = neighbour_page(params, find)
    return {
        "id": aic_id,
        "model": found.model.name,
        "page": found.page,
        "page_size": found.page_size,
        "next": next_link(request, found.page, found.has_next, **link),
        "filters": found.filters.active(),
        "results": hits_json(found.hits),
    }


def similar_json(request: HttpRequest, artwork: Artwork, params: FilterParams) -> dict[str, Any]:
    return _paged_neighbours(request, params, lambda k, filters: similar_artworks(artwork, k, filters), artwork.aic_id)


# --- Search by image: an upload, or the token of one, with words or without ---------------------------


@dataclass(frozen=True)
class ImageSearch:
    """A page of an image search, and the token that pages it (None when Redis could not keep it)."""

    found: NeighbourPage
    token: str | None
    words: str
    text_weight: float | None  # None when there are no words


def run_image_search(params: ImageSearchParams, data: bytes | None) -> ImageSearch:
    """Rank by an uploaded image ``data``, or by the vector an earlier upload left under ``params.token``,
    combined with ``params.q`` when it has words.

    The model is checked first (503 when none is active, before the upload is decoded: there is
    nothing to compare with), then the token (400/410) or the upload (400), then the words.
    """
    token = (params.token or "").strip()
    if data is not None and token:
        raise SearchError("send either an image or the token of an earlier image search, not both")
    if data is None and not token:
        raise SearchError("send the image as the multipart field 'image', or the token of an earlier image search")
    words = params.words()
    model = active_model()
    if data is not None:
        vector = embed_upload(model, data)
        kept = keep_vector(model, vector)
    else:
        vector = vector_for_token(model, token)
        kept = token
    weight = params.weight() if words else None
    if weight is not None:
        vector = combined_vector(vector, embed_query(model, words), weight)
    found = neighbour_page(params, lambda k, filters: (model, nearest(model, vector, k, filters=filters)))
    return ImageSearch(found, kept, words, weight)


def image_search_json(request: HttpRequest, params: ImageSearchParams, data: bytes | None) -> dict[str, Any]:
    """The API's answer to an image search; its ``next`` link pages by the token, a GET."""
    search = run_image_search(params, data)
    found = search.found
    link = {"token": search.token} if search.token else {}
    return {
        "id": None,
        "model": found.model.name,
        "query": search.words or None,
        "text_weight": search.text_weight,
        "token": search.token,
        "token_expires_in": settings.IMAGE_SEARCH_TOKEN_SECONDS if search.token else None,
        "page": found.page,
        "page_size": found.page_size,
        "next": next_link(request, found.page, found.has_next and search.token is not None, **link),
        "filters": found.filters.active(),
        "results": hits_json(found.hits),
    }


# --- More like these: the neighbours of several artworks' mean vector ----------------------------------


def parse_ids(text: str) -> list[int]:
    """The AIC ids of ``ids=1,2,3``, each once, in order; SearchError (400) for anything else."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise SearchError("ids must name at least one artwork id, e.g. ids=27992,28560")
    ids: list[int] = []
    for part in parts:
        if not part.isascii() or not part.isdigit() or len(part) > 10:
            raise SearchError(f"ids must be artwork ids separated by commas, not {part[:20]!r}")
        if int(part) not in ids:
            ids.append(int(part))
    if len(ids) > MAX_SIMILAR_IDS:
        raise SearchError(f"ids may name at most {MAX_SIMILAR_IDS} artworks, not {len(ids)}")
    return ids


def _listed(ids: list[int]) -> str:
    return ", ".join(str(aic_id) for aic_id in ids)


def visible_artworks(ids: list[int]) -> list[Artwork]:
    """The visible artworks with these AIC ids, in that order: Http404 naming those that do not exist
    or are hidden, SearchError 410 naming those the source withdrew."""
    wanted = [aic_id for aic_id in ids if 0 < aic_id <= MAX_AIC_ID]
    found = {artwork.aic_id: artwork for artwork in Artwork.objects.filter(aic_id__in=wanted, is_hidden=False)}
    missing = [aic_id for aic_id in ids if aic_id not in found]
    if missing:
        raise Http404(f"no artwork with id{'s' if len(missing) > 1 else ''} {_listed(missing)}")
    withdrawn = [aic_id for aic_id in ids if found[aic_id].is_withdrawn]
    if withdrawn:
        raise SearchError(f"withdrawn from the collection: artwork {_listed(withdrawn)}", status=410)
    return [found[aic_id] for aic_id in ids]


def mean_vector(model: EmbeddingModel, artworks: list[Artwork]) -> np.ndarray:
    """The mean of the artworks' image vectors under ``model``; SearchError 404 naming any without one."""
    stored = dict(
        ArtworkEmbedding.objects.filter(model=model, artwork__in=artworks).values_list("artwork_id", "vector")
    )
    lacking = [artwork.aic_id for artwork in artworks if artwork.pk not in stored]
    if lacking:
        raise SearchError(f"no vector under model {model.name} yet for artwork {_listed(lacking)}", status=404)
    return np.mean([np.asarray(stored[artwork.pk], dtype=np.float32) for artwork in artworks], axis=0)


def similar_to_several(artworks: list[Artwork], k: int, filters: SearchFilters) -> tuple[EmbeddingModel, list[Hit]]:
    """The k visible artworks nearest to the mean of ``artworks``' image vectors, those excluded."""
    model = active_model()
    vector = mean_vector(model, artworks)
    given = {artwork.pk for artwork in artworks}
    # At most len(given) of the first k + len(given) are the given artworks themselves.
    ranked = [
        (artwork, similarity)
        for artwork, similarity in vector_neighbours(model, vector, k + len(given), filters=filters)
        if artwork.pk not in given
    ][:k]
    hits = [
        Hit(artwork, similarity + artwork.boost, semantic_rank=i) for i, (artwork, similarity) in enumerate(ranked, 1)
    ]
    return model, by_score(hits)


def similar_to_several_json(request: HttpRequest, artworks: list[Artwork], params: FilterParams) -> dict[str, Any]:
    answer = _paged_neighbours(request, params, lambda k, filters: similar_to_several(artworks, k, filters), None)
    answer["ids"] = [artwork.aic_id for artwork in artworks]
    return answer


def database_reachable() -> bool:
    """Whether PostgreSQL answers ``SELECT 1`` (within DB_CONNECT_TIMEOUT when it must connect)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        warn_limited(logger, "database", "probe: the database is unreachable: %s", exc)
        return False
    return True


def broker_reachable() -> bool:
    """Whether the Celery broker answers a Redis PING within PROBE_TIMEOUT_SECONDS."""
    timeout = settings.PROBE_TIMEOUT_SECONDS
    try:
        redis_client(settings.CELERY_BROKER_URL, timeout=timeout).ping()
    except (redis.RedisError, OSError) as exc:
        # The URL may hold a password: the log gets the error, never the URL.
        warn_limited(logger, "broker", "probe: the broker is unreachable: %s", exc)
        return False
    return True


def readiness() -> dict[str, str]:
    """``database`` and ``broker``: "ok" or "unreachable"; ``status``: "ready" when both are ok, else
    "unavailable". Two round trips, nothing counted: what a load balancer may ask every second."""
    checks = {
        "database": "ok" if database_reachable() else "unreachable",
        "broker": "ok" if broker_reachable() else "unreachable",
    }
    return {"status": "ready" if set(checks.values()) == {"ok"} else "unavailable", **checks}


_recent_counts: Recent[tuple[dict[str, Any], str]] = Recent()


def _model_and_sync() -> tuple[dict[str, Any], str]:
    """The active model, its index counts and the sync's state (the costly part of /healthz), and the
    reason the sync is degraded ('' when it is not)."""
    found: dict[str, Any] = {}
    model = EmbeddingModel.active()
    if model is None:
        found["model"] = {"status": "error: no active model"}
    else:
        loaded = loaded_encoders()
        text_encoder = loaded.get(("text", model.architecture, model.pretrained))
        image_encoder = loaded.get(("image-query", model.architecture, model.pretrained)) or loaded.get(
            ("image", model.architecture, model.pretrained)
        )
        found["model"] = {
            "status": "ok",
            "name": model.name,
            "architecture": model.architecture,
            "dimension": model.dimension,
            "loaded_in_this_process": text_encoder is not None,
            "text_runtime": getattr(text_encoder, "runtime", None),
            "image_runtime": getattr(image_encoder, "runtime", None),
        }
        found["index"] = index_counts(model).as_dict()
    sync = sync_health()
    found["sync"] = sync.as_dict()
    return found, sync.reason


def health_checks() -> dict[str, Any]:
    """Database, broker and model status, the active model's index counts, and the sync's state.

    ``status``: 'unhealthy' when the database or broker is down or no model is active (an outage),
    'degraded' when all that is well but the catalog has fallen behind its source (a warning: the
    last complete sync is more than two harvest intervals old, and harvesting is not paused; then
    ``reason`` says why), else 'ok'.

    The database and the broker are asked at every call; the counts are kept HEALTHZ_CACHE_SECONDS
    in this process. No value holds an exception's text (it may name hosts and users): a failure is
    "error: unreachable", and the exception goes to the log, at most once a minute.
    """
    ready = readiness()
    checks: dict[str, Any] = {
        "database": "ok" if ready["database"] == "ok" else "error: unreachable",
        "broker": "ok" if ready["broker"] == "ok" else "error: unreachable",
    }
    healthy = ready["status"] == "ready"
    reason = ""
    if checks["database"] == "ok":
        try:
            counts, reason = _recent_counts.get(settings.HEALTHZ_CACHE_SECONDS, _model_and_sync)
        except DatabaseError as exc:  # the database went away between the probe and the counts
            warn_limited(logger, "database", "health counts: the database is unreachable: %s", exc)
            checks["database"] = "error: unreachable"
        else:
            checks.update(counts)
    if checks["database"] != "ok":
        checks["model"] = {"status": "error: database unreachable"}
        healthy = False
    elif checks["model"]["status"] != "ok":
        healthy = False
    checks["status"] = "unhealthy" if not healthy else "degraded" if reason else "ok"
    checks["reason"] = reason or None
    return checks
