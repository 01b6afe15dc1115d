"""The JSON API (django-ninja): typed endpoints, an OpenAPI 3 schema at /api/schema, docs at /api/docs.

Every error is ``{"error": "..."}``: 400 for bad input, 404 for what does not exist (or is
hidden), 410 for an artwork the source withdrew and for an image search token that expired, 503
while no model is active or while the database or Redis cannot be reached (with Retry-After). The
Swagger UI is served from this site's static files, so the docs work without a network.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import Field, File, NinjaAPI, Query, Schema, Status, Swagger
from ninja.errors import HttpError, ValidationError
from ninja.files import UploadedFile

from catalog.models import Artwork
from core.logging_limits import warn_limited
from search import log as search_log
from search import services, suggestions
from search.image_query import ImageSearchParams
from search.metrics import metrics_response
from search.params import FilterParams, SearchParams, describe_errors
from search.types import ImageSearchBusy, Mode, SearchError
from search.uploads import upload_problem

logger = logging.getLogger(__name__)
# Seconds a client is asked to wait when the database or Redis is away: a restart's length.
RETRY_AFTER_SECONDS = 30


class SiteSwagger(Swagger):
    """Swagger UI in a page of the site's own (search/api_docs.html): a language, readable contrast.

    Deep links off: Swagger UI writes each operation's path as a link inside the button that opens
    it, a control nested in a control that assistive technology cannot reach.
    """

    template = "search/api_docs.html"


api = NinjaAPI(
    title="Museum search API",
    version="1.0",
    description=(
        "Search the Art Institute of Chicago collection by words, by meaning and by image. "
        "Artwork data is CC0 except descriptions, which are © Art Institute of Chicago, CC BY 4.0."
    ),
    openapi_url="/api/schema",
    docs_url="/api/docs",
    docs=SiteSwagger(settings={"tryItOutEnabled": True, "deepLinking": False}),
    urls_namespace="api",
)


class ErrorOut(Schema):
    error: str


class WhyOut(Schema):
    """Why a text search's hit is in the results (docs/api.md)."""

    keyword_rank: int | None = Field(description="1-based place in the full-text list; null: not in it")
    semantic_rank: int | None = Field(description="1-based place in the vector list; null: not in it")
    similarity: float | None = Field(description="cosine similarity of the query and the image; null: not in it")
    visual_match: bool = Field(description="the similarity reaches the model's calibrated match threshold")
    matched_terms: list[str] = Field(description="the query's words the artwork's text holds")
    snippet: str = Field(description="HTML-escaped text of the artwork, the matched words in <mark> elements")
    boost: float = Field(description="the curator's boost added to the score (0: none)")


class ArtworkHitOut(Schema):
    id: int
    title: str
    artist: str
    date: str
    score: float | None
    image_url: str
    thumbnail_url: str
    pinned: bool = False  # put first by a curator's pin for this query
    why: WhyOut | None = Field(None, description="why it matched (text search only)")
    weak: bool = Field(False, description="a semantic-only match below the model's match threshold")
    similar: list[int] = Field([], description="AIC ids of near-duplicates folded into this result")


class FacetValueOut(Schema):
    value: str | int | bool  # a title; a century's first year; true or false
    count: int


class FacetsOut(Schema):
    """Each facet's values among the artworks that answer the query (docs/api.md), most frequent first."""

    department: list[FacetValueOut]
    artwork_type: list[FacetValueOut]
    classification: list[FacetValueOut]
    artist: list[FacetValueOut]
    style: list[FacetValueOut]
    subject: list[FacetValueOut]
    place: list[FacetValueOut]
    century: list[FacetValueOut]
    is_public_domain: list[FacetValueOut]
    is_on_view: list[FacetValueOut]
    has_image: list[FacetValueOut]


class SearchOut(Schema):
    query: str
    model: str | None
    mode: Mode
    page: int
    page_size: int
    next: str | None
    filters: dict[str, str | int | bool | list[str]]
    match_threshold: float | None = Field(
        description="the model's calibrated similarity below which a semantic-only match is weak; null: none"
    )
    strong: int = Field(description="how many results of this page are not weak (they come first)")
    results: list[ArtworkHitOut]
    facets: FacetsOut
    facets_complete: bool = Field(
        description="false when the query's words matched SEARCH_FACET_TEXT_MATCHES artworks or more: "
        "the counts are then of the first that many text matches (and of the nearest artworks)"
    )


class SimilarOut(Schema):
    id: int | None
    model: str
    page: int
    page_size: int
    next: str | None
    filters: dict[str, str | int | bool | list[str]]
    results: list[ArtworkHitOut]


class ImageSearchOut(SimilarOut):
    query: str | None  # the words searched with the image, if any
    text_weight: float | None  # the words' share against the image's, when there are words
    token: str | None  # pages this search (GET with ?token=): the image's vector, kept token_expires_in s
    token_expires_in: int | None


class SimilarToSeveralOut(SimilarOut):
    ids: list[int]


class SeveralArtworksParams(FilterParams):
    ids: str = Field(
        ...,
        max_length=300,
        description=f"AIC ids of up to {services.MAX_SIMILAR_IDS} artworks, separated by commas: 27992,28560",
    )


class ArtworkOut(Schema):
    id: int
    title: str
    artist: str
    date: str
    date_start: int | None
    date_end: int | None
    place_of_origin: str
    medium: str
    dimensions: str
    description: str
    description_license: str
    department: str
    artwork_type: str
    classifications: list[str]
    styles: list[str]
    subjects: list[str]
    terms: list[str]
    is_public_domain: bool
    is_on_view: bool
    image_url: str
    thumbnail_url: str
    iiif_info_url: str
    aic_url: str
    license: str


class SuggestionOut(Schema):
    kind: str  # "artist" or "title"
    label: str
    url: str  # a search for the artist, or the artwork's page
    id: int | None  # the artwork of a title
    artist: str  # the artist of a title ("" for an artist)


class SuggestOut(Schema):
    query: str
    suggestions: list[SuggestionOut]


class LiveOut(Schema):
    status: str


class ReadyOut(Schema):
    status: str
    database: str
    broker: str


class HealthOut(Schema):
    status: str
    database: str
    broker: str
    model: dict[str, Any]
    index: dict[str, int] | None = None
    sync: dict[str, Any] | None = None
    reason: str | None = None


_ERRORS: dict[int, type[Schema]] = {400: ErrorOut, 404: ErrorOut, 429: ErrorOut, 503: ErrorOut}
# An upload's endpoint also answers 413, before reading it, for a body declared over the limit.
_UPLOAD_ERRORS: dict[int, type[Schema]] = {**_ERRORS, 413: ErrorOut}
# An artwork's own endpoints also answer for one the source withdrew.
_ARTWORK_ERRORS: dict[int, type[Schema]] = {**_ERRORS, 410: ErrorOut}
# An image search by token answers 410 once the token expired or the model changed.
_IMAGE_ERRORS: dict[int, type[Schema]] = {**_UPLOAD_ERRORS, 410: ErrorOut}


@api.exception_handler(ValidationError)
def _bad_parameters(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    model = ImageSearchParams if request.path.startswith("/api/search/image") else SearchParams
    return api.create_response(request, {"error": describe_errors(exc.errors, request.GET, model)}, status=400)


@api.exception_handler(SearchError)
def _search_error(request: HttpRequest, exc: SearchError) -> HttpResponse:
    response = api.create_response(request, {"error": exc.message}, status=exc.status)
    if isinstance(exc, ImageSearchBusy):
        response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, {"error": str(exc) or "not found"}, status=404)


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
@api.exception_handler(redis.ConnectionError)
@api.exception_handler(redis.TimeoutError)
def _unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    """The database or Redis is away: 503 with Retry-After, and no word of the exception (it names
    hosts and users); the log gets it, once a minute at most."""
    warn_limited(logger, type(exc).__name__, "API %s answered 503: %s: %s", request.path, type(exc).__name__, exc)
    response = api.create_response(request, {"error": "temporarily unavailable"}, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return api.create_response(request, {"error": exc.message}, status=exc.status_code)


@api.get("/api/search", response={200: SearchOut, **_ERRORS}, tags=["search"], summary="Search by text")
def search_artworks(request: HttpRequest, params: Query[SearchParams]) -> dict[str, Any]:
    """Artworks for a query: `hybrid` fuses full-text and CLIP rankings (reciprocal rank fusion),
    `semantic` ranks by meaning alone, `keyword` by words alone. Filters narrow the results
    without losing relevance; `next` links the following page."""
    answer = services.text_search_json(request, params)
    search_log.record_search(
        answer["query"], params.mode, answer["filters"], len(answer["results"]), answer["page"], search_log.API
    )
    return answer


@api.post(
    "/api/search/image",
    response={200: ImageSearchOut, **_IMAGE_ERRORS},
    tags=["search"],
    summary="Search by an uploaded image",
)
def search_by_image(
    request: HttpRequest, params: Query[ImageSearchParams], image: File[UploadedFile | None] = None
) -> Any:
    """Visually similar artworks for an uploaded JPEG, PNG, WebP or GIF (multipart field `image`),
    with optional words (`q`, e.g. "in winter") searched together with it, and the same filters as
    text search. The image is read in memory and never stored; its vector is kept under the answer's
    `token` for IMAGE_SEARCH_TOKEN_SECONDS, and `next` pages by it (GET, no upload).

    413 at once for a body over IMAGE_MAX_BYTES (and 1 MiB of fields); 400 for an image over
    IMAGE_MAX_BYTES or IMAGE_UPLOAD_MAX_PIXELS, of another type, or that cannot be decoded: all but
    the last are refused before it is decoded. A `token` may be sent instead of the image."""
    problem = upload_problem(request)
    if problem:
        raise SearchError(problem)
    return services.image_search_json(request, params, None if image is None else image.read())


@api.get(
    "/api/search/image",
    response={200: ImageSearchOut, **_IMAGE_ERRORS},
    tags=["search"],
    summary="Page or refine an image search by its token",
)
def search_by_image_token(request: HttpRequest, params: Query[ImageSearchParams]) -> Any:
    """An earlier image search again, by the `token` it answered: another page, other filters or other
    words, without sending the image. 410 once the token has expired (IMAGE_SEARCH_TOKEN_SECONDS), is
    unknown, or was made under a model that is no longer the active one: upload the image again."""
    if not (params.token or "").strip():
        raise SearchError("token is required: POST the image first, then page with the token it answers")
    return services.image_search_json(request, params, None)


@api.get(
    "/api/artworks/similar",
    response={200: SimilarToSeveralOut, **_ARTWORK_ERRORS},
    tags=["artworks"],
    summary="More like these: artworks similar to several",
)
def similar_to_several(request: HttpRequest, params: Query[SeveralArtworksParams]) -> dict[str, Any]:
    """Artworks nearest to the mean of the given artworks' image vectors (those artworks excluded),
    with filters and pages. 404 naming ids that do not exist, and those without a vector yet; 410
    naming any withdrawn; 400 for more than the most ids or anything but ids."""
    artworks = services.visible_artworks(services.parse_ids(params.ids))
    return services.similar_to_several_json(request, artworks, params)


@api.get(
    "/api/artworks/{aic_id}", response={200: ArtworkOut, **_ARTWORK_ERRORS}, tags=["artworks"], summary="One artwork"
)
def artwork_record(request: HttpRequest, aic_id: int) -> dict[str, Any]:
    """The full record of one visible artwork, with its image links and licences; 410 Gone, saying
    when, for an artwork withdrawn from the collection."""
    return services.artwork_record_json(services.visible_artwork(aic_id))


@api.get(
    "/api/artworks/{aic_id}/similar",
    response={200: SimilarOut, **_ARTWORK_ERRORS},
    tags=["artworks"],
    summary="Visually similar artworks",
)
def similar(request: HttpRequest, aic_id: int, params: Query[FilterParams]) -> dict[str, Any]:
    """Artworks whose images are nearest to this artwork's image (the artwork itself excluded);
    410 when the artwork was withdrawn from the collection."""
    artwork: Artwork = services.visible_artwork(aic_id)
    return services.similar_json(request, artwork, params)


@api.get("/api/suggest", response={200: SuggestOut, **_ERRORS}, tags=["search"], summary="Suggestions as you type")
def suggest(request: HttpRequest, q: str = "") -> HttpResponse:
    """Up to 8 artists and titles for what a visitor has typed so far (2 to 100 characters), best
    first: those starting with it, then by the share of its trigrams they hold, so a misspelling
    still finds them. Visible artworks only. Cacheable for 5 minutes."""
    text = suggestions.typed_text(q)
    found = suggestions.suggest(text)
    body = {
        "query": text,
        "suggestions": [
            {"kind": s.kind, "label": s.label, "url": s.url, "id": s.aic_id, "artist": s.artist} for s in found
        ],
    }
    response = api.create_response(request, body, status=200)
    response["Cache-Control"] = f"public, max-age={suggestions.MAX_AGE_SECONDS}"
    return response


@api.get("/livez", response={200: LiveOut}, tags=["operations"], summary="Liveness")
def livez(request: HttpRequest) -> dict[str, str]:
    """200 while this process answers requests; it asks nothing of the database or the broker, so
    an orchestrator restarts the process only when the process itself is stuck."""
    return {"status": "alive"}


@api.get("/readyz", response={200: ReadyOut, 503: ReadyOut}, tags=["operations"], summary="Readiness")
def readyz(request: HttpRequest) -> Status[dict[str, str]]:
    """200 when the database answers `SELECT 1` and the broker a PING; 503 naming which is
    `unreachable` otherwise. Cheap enough for a load balancer to ask every second."""
    ready = services.readiness()
    return Status(200 if ready["status"] == "ready" else 503, ready)


@api.get("/healthz", response={200: HealthOut, 503: HealthOut}, tags=["operations"], summary="Health")
def healthz(request: HttpRequest) -> Status[dict[str, Any]]:
    """Database, broker and model status, the active model's index counts and the sync's state
    (the counts kept HEALTHZ_CACHE_SECONDS per process).

    200 when all is well ("ok") and when the catalog has fallen behind its source ("degraded", with a
    reason: a warning, not an outage); 503 when the database or broker is down or no model is active.
    """
    checks = services.health_checks()
    return Status(503 if checks["status"] == "unhealthy" else 200, checks)


@api.get(
    "/metrics",
    tags=["operations"],
    summary="Prometheus metrics",
    openapi_extra={"responses": {200: {"description": "Prometheus text format", "content": {"text/plain": {}}}}},
)
def metrics(request: HttpRequest) -> HttpResponse:
    """Request latency, queue depth, embeddings per second and harvest lag, in Prometheus text format."""
    return metrics_response(request)
