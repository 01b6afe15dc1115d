from __future__ import annotations

from django.urls import path

from search import views
from search.api import api

urlpatterns = [
    path("", views.index, name="index"),
    path("search/image", views.image_search, name="image-search"),
    path("search/click", views.search_click, name="search-click"),
    path("artworks/similar", views.similar_to_several, name="similar-artworks"),
    path("artworks/<int:aic_id>", views.artwork_detail, name="artwork"),
    # The JSON API, /healthz and /metrics (django-ninja: OpenAPI at /api/schema, docs at /api/docs).
    path("", api.urls),
]
