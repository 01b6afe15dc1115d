from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Museum search administration"
admin.site.site_title = "Museum search"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("search.urls")),
]
