"""The search page, artwork pages, the JSON API and the health check."""

from __future__ import annotations

from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from catalog.models import Artwork
from embeddings.clip import loaded_encoders
from embeddings.indexing import index_counts
from embeddings.models import EmbeddingModel
from search.ranking import Hit, SearchError, search_text, similar_artworks

_MAX_ID = 2_147_483_647  # Artwork.aic_id is a PostgreSQL integer


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _parse_k(request: HttpRequest) -> int:
    raw = request.GET.get("k", str(settings.SEARCH_DEFAULT_K))
    try:
        k = int(raw)
    except ValueError:
        raise SearchError(f"k must be an integer from 1 to 100, not {raw[:20]!r}") from None
    if not 1 <= k <= 100:
        raise SearchError(f"k must be from 1 to 100, not {k}")
    return k


def _parse_query(request: HttpRequest) -> str:
    query = " ".join(request.GET.get("q", "").split())
    if not query:
        raise SearchError("q must not be empty")
    if len(query) > settings.SEARCH_MAX_QUERY_LENGTH:
        raise SearchError(f"q is longer than {settings.SEARCH_MAX_QUERY_LENGTH} characters")
    return query


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


def _hits_json(hits: list[Hit]) -> list[dict[str, Any]]:
    return [artwork_json(hit.artwork, hit.score) for hit in hits]


@require_GET
def api_search(request: HttpRequest) -> JsonResponse:
    try:
        query = _parse_query(request)
        k = _parse_k(request)
        model, hits = search_text(query, k)
    except SearchError as exc:
        return _error(exc.message, exc.status)
    return JsonResponse({"query": query, "model": model.name, "results": _hits_json(hits)})


@require_GET
def api_similar(request: HttpRequest, aic_id: int) -> JsonResponse:
    artwork = Artwork.objects.filter(aic_id=aic_id, is_hidden=False).first() if aic_id <= _MAX_ID else None
    if artwork is None:
        return _error(f"no artwork with id {aic_id}", 404)
    try:
        k = _parse_k(request)
        model, hits = similar_artworks(artwork, k)
    except SearchError as exc:
        return _error(exc.message, exc.status)
    return JsonResponse({"id": aic_id, "model": model.name, "results": _hits_json(hits)})


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    context: dict[str, Any] = {"query": query, "hits": [], "error": ""}
    if query.strip():
        try:
            context["model"], context["hits"] = search_text(_parse_query(request), settings.SEARCH_DEFAULT_K)
        except SearchError as exc:
            context["error"] = exc.message
    context["iiif"] = settings.AIC_IIIF_URL
    return render(request, "search/index.html", context, status=400 if context["error"] else 200)


@require_GET
def artwork_detail(request: HttpRequest, aic_id: int) -> HttpResponse:
    if aic_id > _MAX_ID:
        raise Http404("no such artwork")
    artwork = get_object_or_404(Artwork, aic_id=aic_id, is_hidden=False)
    similar: list[Hit] = []
    note = ""
    try:
        _, similar = similar_artworks(artwork, 12)
    except SearchError as exc:
        note = exc.message
    return render(
        request,
        "search/artwork.html",
        {
            "artwork": artwork,
            "similar": similar,
            "note": note,
            "image_url": artwork.iiif_image_url(settings.AIC_IIIF_URL, "843,"),
            "iiif": settings.AIC_IIIF_URL,
        },
    )


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Database, broker and model status, and the active model's index counts; 503 unless all is well."""
    checks: dict[str, Any] = {}
    healthy = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc}"
        healthy = False
    try:
        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2, socket_connect_timeout=2).ping()
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"error: {exc}"
        healthy = False
    model = EmbeddingModel.active() if checks["database"] == "ok" else None
    if model is None:
        checks["model"] = {"status": "error: no active model"}
        healthy = False
    else:
        loaded = any(
            key[0] == "text" and key[1:] == (model.architecture, model.pretrained) for key in loaded_encoders()
        )
        checks["model"] = {
            "status": "ok",
            "name": model.name,
            "architecture": model.architecture,
            "dimension": model.dimension,
            "loaded_in_this_process": loaded,
        }
        checks["index"] = index_counts(model).as_dict()
    checks["status"] = "ok" if healthy else "unhealthy"
    return JsonResponse(checks, status=200 if healthy else 503)
