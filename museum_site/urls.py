from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from museum_site import login_throttle
from operations import dashboard

admin.site.site_header = "Museum search administration"
admin.site.site_title = "Museum search"
admin.site.index_template = "admin/museum_index.html"  # the admin index, with a link to the jobs dashboard
admin.site.login_form = login_throttle.ThrottledAdminAuthenticationForm  # failed logins counted, then refused

urlpatterns = [
    # The curators' jobs dashboard (staff only), before admin/ so the admin's catch-all does not take it.
    path("admin/jobs/", admin.site.admin_view(dashboard.jobs_dashboard), name="jobs-dashboard"),
    path("admin/jobs/action", admin.site.admin_view(dashboard.jobs_action), name="jobs-action"),
    # Before admin/ too: the admin's own login view, answering 429 to a throttled attempt.
    path("admin/login/", login_throttle.admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("", include("search.urls")),
]
