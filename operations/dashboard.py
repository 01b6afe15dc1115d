"""The curators' jobs dashboard in the admin: harvest and embedding queues, re-embeds, schedules.

Counts come from where the work is: tasks waiting in the Redis broker's queue lists, tasks a
worker has taken (with acks_late they stay in the broker's ``unacked`` hash until done), and the
database (SyncRun rows, vectors, EmbeddingFailure rows).
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from catalog import schedules, sync_status
from catalog.models import Artwork, SyncRun
from catalog.sync_status import duration_text
from core import dashboard_sections
from core.redis_clients import OPERATOR_TIMEOUT_SECONDS, redis_client
from embeddings.activation.states import IN_PROGRESS
from embeddings.activation.status import activation_status
from embeddings.indexing import EMBED_TASK, enqueue_embedding, failure_counts, index_counts
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel

logger = logging.getLogger(__name__)

HARVEST_QUEUE = "sync"
EMBED_QUEUE = "embed"


@dataclass
class QueueCounts:
    """One job queue at a glance; ``unit`` says what the counts count."""

    name: str
    unit: str
    pending: int
    running: int
    failed: int
    done: int
    queued_tasks: int
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class InFlight:
    tasks: int = 0
    items: int = 0  # artworks, for embedding batches


def _broker() -> redis.Redis:
    return redis_client(settings.CELERY_BROKER_URL, timeout=OPERATOR_TIMEOUT_SECONDS)


def broker_state() -> tuple[dict[str, int], dict[str, InFlight], str]:
    """(tasks waiting per queue, tasks taken by a worker per queue, problem or '')."""
    try:
        client = _broker()
        waiting = {queue: int(client.llen(queue)) for queue in (HARVEST_QUEUE, EMBED_QUEUE)}
        raw_unacked = client.hvals("unacked")
    except redis.RedisError as exc:
        return {}, {}, f"broker unavailable: {exc}"
    taken: dict[str, InFlight] = {}
    for raw in raw_unacked:
        try:
            message, _exchange, routing_key = json.loads(raw)
            items = _batch_size(message)
        except (ValueError, TypeError, KeyError):
            continue
        before = taken.get(routing_key, InFlight())
        taken[routing_key] = InFlight(before.tasks + 1, before.items + items)
    return waiting, taken, ""


def _batch_size(message: dict[str, Any]) -> int:
    """Artworks in an embedding task (its first argument), or 0 for other tasks."""
    if message.get("headers", {}).get("task") != EMBED_TASK:
        return 0
    body = message["body"]
    if message.get("properties", {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args = json.loads(body)[0]
    return len(args[0]) if args and isinstance(args[0], list) else 0


def harvest_counts(waiting: dict[str, int], taken: dict[str, InFlight]) -> QueueCounts:
    runs = SyncRun.objects
    return QueueCounts(
        name="Harvest",
        unit="runs",
        pending=waiting.get(HARVEST_QUEUE, 0),
        running=runs.filter(status=SyncRun.Status.RUNNING).count(),
        failed=runs.filter(status=SyncRun.Status.FAILED).count(),
        done=runs.filter(status__in=[SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL]).count(),
        queued_tasks=waiting.get(HARVEST_QUEUE, 0) + taken.get(HARVEST_QUEUE, InFlight()).tasks,
    )


def embedding_counts(model: EmbeddingModel, waiting: dict[str, int], taken: dict[str, InFlight]) -> QueueCounts:
    counts = index_counts(model)
    in_flight = taken.get(EMBED_QUEUE, InFlight())
    return QueueCounts(
        name=f"Embedding ({model.name})",
        unit="artworks",
        pending=counts.pending,
        running=in_flight.items,
        failed=counts.failed,
        done=counts.embedded,
        queued_tasks=waiting.get(EMBED_QUEUE, 0) + in_flight.tasks,
        notes=[f"{counts.no_image} artworks have no image"] if counts.no_image else [],
    )


def reembed_progress() -> list[dict[str, Any]]:
    """Models being embedded for activation, with how far their pass has gone."""
    progress = []
    with_image = Artwork.objects.exclude(image_id="").count()
    for model in EmbeddingModel.objects.filter(is_active=False).order_by("-created_at"):
        status = activation_status(model)
        if status is None or status.state not in IN_PROGRESS:
            continue
        embedded = ArtworkEmbedding.objects.filter(model=model).count()
        progress.append(
            {
                "model": model,
                "status": status,
                "percent": round(100 * status.done / status.to_embed) if status.to_embed else 0,
                "coverage": f"{embedded} of {with_image} artworks with an image have a vector",
            }
        )
    return progress


def sync_overview(model: EmbeddingModel | None) -> dict[str, Any]:
    """What an operator needs to see that the collection keeps up with AIC when nobody watches it:
    the walk in progress, the last complete sync and its age, the lag behind the source, and the
    artworks withdrawn or whose embedding failed (awaiting a retry, or for good)."""
    now = timezone.now()
    walk = sync_status.running_walk()
    last = sync_status.last_complete_sync()
    lag = sync_status.sync_lag()
    failures = failure_counts(model) if model is not None else None
    return {
        "walk": walk,
        "walk_rate": f"{walk.records_per_second:.1f}" if walk and walk.records_per_second is not None else None,
        "walk_left": duration_text(walk.seconds_left) if walk and walk.seconds_left is not None else None,
        "walk_percent": round(100 * walk.page / walk.total_pages) if walk and walk.total_pages else None,
        "walk_checkpoint_age": duration_text((now - walk.checkpoint_at).total_seconds())
        if walk and walk.checkpoint_at
        else None,
        "last_complete": last,
        "last_complete_age": duration_text((now - last.finished_at).total_seconds())
        if last and last.finished_at
        else None,
        "lag": duration_text(lag.total_seconds()) if lag is not None else None,
        "withdrawn": sync_status.withdrawn_count(),
        "awaiting_retry": failures.awaiting_retry if failures else None,
        "permanent": failures.permanent if failures else None,
    }


def jobs_dashboard(request: HttpRequest) -> HttpResponse:
    waiting, taken, problem = broker_state()
    model = EmbeddingModel.active()
    queues = [harvest_counts(waiting, taken)]
    if model is not None:
        queues.append(embedding_counts(model, waiting, taken))
    context = {
        **admin.site.each_context(request),
        "title": "Jobs",
        "queues": queues,
        "broker_problem": problem,
        "model": model,
        "reembeds": reembed_progress(),
        "sync": sync_overview(model),
        "harvest_paused": schedules.harvest_paused(),
        "harvest_schedules": schedules.harvest_schedules(),
        "runs": list(SyncRun.objects.order_by("-started_at")[:10]),
        "failures": EmbeddingFailure.objects.filter(model=model).count() if model else 0,
        "allowed": allowed_actions(request),
        "report_sections": report_sections(),
    }
    return render(request, "admin/jobs_dashboard.html", context)


def report_sections() -> dict[str, list[dashboard_sections.DashboardTable]]:
    """The tables other apps registered (core/dashboard_sections.py), by section, in their order."""
    sections: dict[str, list[dashboard_sections.DashboardTable]] = {}
    for table in dashboard_sections.tables():
        sections.setdefault(table.section, []).append(table)
    return sections


# What each POST action of the dashboard needs (docs/security.md, Permissions); a superuser has them all.
ACTION_PERMISSIONS = {
    "pause": "django_celery_beat.change_periodictask",
    "resume": "django_celery_beat.change_periodictask",
    "harvest_now": "catalog.run_harvest",
    "retry_embeddings": "embeddings.change_embeddingfailure",
}


def allowed_actions(request: HttpRequest) -> set[str]:
    """The dashboard actions this user may run: the page offers only these."""
    return {action for action, permission in ACTION_PERMISSIONS.items() if request.user.has_perm(permission)}


@require_POST
def jobs_action(request: HttpRequest) -> HttpResponse:
    """Pause or resume harvesting, start a harvest now, or queue failed embeddings again.

    403 when the user lacks the action's permission, 400 for an unknown action.
    """
    action = request.POST.get("action", "")
    permission = ACTION_PERMISSIONS.get(action)
    if permission is None:
        return HttpResponseBadRequest(f"Unknown action {action[:40]!r}.")
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"{action} needs the permission {permission}")
    if action in {"pause", "resume"}:
        changed = schedules.set_harvest_paused(action == "pause")
        messages.success(request, f"Harvesting {'paused' if action == 'pause' else 'resumed'} ({changed} schedules).")
    elif action == "harvest_now":
        from catalog.tasks import sync_aic_task

        sync_aic_task.delay()
        messages.success(request, "A harvest is queued.")
    elif action == "retry_embeddings":
        model = EmbeddingModel.active()
        if model is None:
            messages.error(request, "No active model.")
        else:
            ids = list(
                EmbeddingFailure.objects.filter(model=model)
                .exclude(artwork__image_id="")
                .values_list("artwork_id", flat=True)
            )
            tasks = enqueue_embedding(ids, model)
            messages.success(request, f"Queued {len(ids)} failed artworks again in {tasks} tasks for {model.name}.")
    return HttpResponseRedirect(reverse("jobs-dashboard"))
