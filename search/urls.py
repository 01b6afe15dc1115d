from __future__ import annotations

from django.urls import path

from search import views

urlpatterns = [
    path("", views.index, name="index"),
    path("artworks/<int:aic_id>", views.artwork_detail, name="artwork"),
    path("api/search", views.api_search, name="api-search"),
    path("api/artworks/<int:aic_id>/similar", views.api_similar, name="api-similar"),
    path("healthz", views.healthz, name="healthz"),
]
