"""The schedules admin (django-celery-beat's), whose actions ask for the permission they need."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask


def _requiring(action: Callable[..., Any], permissions: list[str]) -> Callable[..., Any]:
    """``action`` (a ModelAdmin method) offered only to users with ``permissions`` (ModelAdmin's has_<name>_permission)."""

    @functools.wraps(action)
    def wrapped(model_admin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        return action(model_admin, request, queryset)

    wrapped.allowed_permissions = permissions  # type: ignore[attr-defined]
    return wrapped


class PeriodicTaskWithPermissionsAdmin(PeriodicTaskAdmin):
    """django_celery_beat's schedules admin (the harvest runs on these), whose actions check no permission:
    enabling, disabling or running a schedule now is changing it, as pausing harvests on the dashboard is."""

    enable_tasks = _requiring(PeriodicTaskAdmin.enable_tasks, ["change"])
    disable_tasks = _requiring(PeriodicTaskAdmin.disable_tasks, ["change"])
    toggle_tasks = _requiring(PeriodicTaskAdmin.toggle_tasks, ["change"])
    run_tasks = _requiring(PeriodicTaskAdmin.run_tasks, ["change"])


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskWithPermissionsAdmin)


# django-celery-beat's own form runs an inline script, which the Content-Security-Policy refuses.
PeriodicTaskWithPermissionsAdmin.change_form_template = "admin/periodic_task_form.html"
