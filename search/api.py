"""The JSON API (django-ninja): typed endpoints, an OpenAPI 3 schema at /api/schema, docs at /api/docs.

Every error is ``{"error": "..."}``: 400 for bad input, 404 for what does not exist (or is
hidden), 410 for an artwork the source withdrew, 503 while no model is active or while the
database or Redis cannot be reached (with Retry-After). The Swagger UI
is served from this site's static files, so the docs work without a network.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import File, NinjaAPI, Query, Schema, Status, Swagger
from ninja.errors import HttpError, ValidationError
from ninja.files import UploadedFile

from catalog.models import Artwork
from core.logging_limits import warn_limited
from search import log as search_log
from search import services
from search.metrics import metrics_response
from search.params import FilterParams, SearchParams, describe_errors
from search.types import ImageSearchBusy, Mode, SearchError
from search.uploads import upload_problem

logger = logging.getLogger(__name__)
# Seconds a client is asked to wait when the database or Redis is away: a restart's length.
RETRY_AFTER_SECONDS = 30

api = NinjaAPI(
    title="Museum search API",
    version="1.0",
    description=(
        "Search the Art Institute of Chicago collection by words, by meaning and by image. "
        "Artwork data is CC0 except descriptions, which are © Art Institute of Chicago, CC BY 4.0."
    ),
    openapi_url="/api/schema",
    docs_url="/api/docs",
    docs=Swagger(settings={"tryItOutEnabled": True}),
    urls_namespace="api",
)


class ErrorOut(Schema):
    error: str


class ArtworkHitOut(Schema):
    id: int
    title: str
    artist: str
    date: str
    score: float | None
    image_url: str
    thumbnail_url: str
    pinned: bool = False  # put first by a curator's pin for this query


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
    results: list[ArtworkHitOut]
    facets: FacetsOut


class SimilarOut(Schema):
    id: int | None
    model: str
    page: int
    page_size: int
    next: str | None
    filters: dict[str, str | int | bool | list[str]]
    results: list[ArtworkHitOut]


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


@api.exception_handler(ValidationError)
def _bad_parameters(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return api.create_response(request, {"error": describe_errors(exc.errors, request.GET)}, status=400)


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
    response={200: SimilarOut, **_UPLOAD_ERRORS},
    tags=["search"],
    summary="Search by an uploaded image",
)
def search_by_image(request: HttpRequest, params: Query[FilterParams], image: File[UploadedFile | None] = None) -> Any:
    """Visually similar artworks for an uploaded JPEG, PNG, WebP or GIF (multipart field `image`).
    The image is read in memory and never stored. 413 at once for a body over IMAGE_MAX_BYTES (and
    1 MiB of fields); 400 for an image over IMAGE_MAX_BYTES or IMAGE_UPLOAD_MAX_PIXELS, of another
    type, or that cannot be decoded: all but the last are refused before it is decoded."""
    problem = upload_problem(request)
    if problem:
        raise SearchError(problem)
    if image is None:
        raise SearchError("send the image as the multipart field 'image'")
    return services.image_search_json(request, params, image.read())


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
