"""Every admin action declares a permission: a staff user who may only view a list cannot run its actions.

The actions are read from the admin site itself, so an action added without a permission, or without
a case here that shows who may run it, fails these tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.db import models
from django.test import Client, RequestFactory
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from catalog.models import Artwork, QueryPin, SyncRun, Synonym
from embeddings.models import EmbeddingFailure, EmbeddingModel
from museum_site.celery import app as celery_app
from search.models import SearchEvaluation
from search.models_interleaving import InterleavedSearch, InterleavingExperiment
from search.models_log import SearchLogEntry
from training.models import EvaluationReport, TrainingJob

pytestmark = pytest.mark.django_db


def _base_actions() -> list[tuple[str, str, Any]]:
    """(model label, action name, action function) of every action on the admin site, before permissions."""
    return [
        (model._meta.label, name, func)
        for model, model_admin in admin.site._registry.items()
        for func, name, _description in model_admin._get_base_actions()  # type: ignore[attr-defined]
    ]


# --- Objects an action can be run on -----------------------------------------------------------------


def _artwork(**fields: Any) -> Artwork:
    return Artwork.objects.create(aic_id=9001, title="A quiet harbour", content_hash="x", image_id="img-1", **fields)


def _model(name: str = "candidate", **fields: Any) -> EmbeddingModel:
    return EmbeddingModel.objects.create(name=name, architecture="museum-micro", dimension=16, **fields)


def _interval() -> IntervalSchedule:
    return IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)


def _periodic_task(enabled: bool = True) -> PeriodicTask:
    return PeriodicTask.objects.create(
        name="harvest", task="catalog.tasks.sync_aic_task", interval=_interval(), enabled=enabled
    )


OBJECTS: dict[str, Callable[[], models.Model]] = {
    "auth.Group": lambda: Group.objects.create(name="volunteers"),
    "auth.User": lambda: User.objects.create_user("ursula_unused", password="a-long-pass-phrase"),
    "django_celery_beat.PeriodicTask": _periodic_task,
    "django_celery_beat.ClockedSchedule": lambda: ClockedSchedule.objects.create(clocked_time=timezone.now()),
    "django_celery_beat.CrontabSchedule": lambda: CrontabSchedule.objects.create(),
    "django_celery_beat.SolarSchedule": lambda: SolarSchedule.objects.create(event="sunrise", latitude=0, longitude=0),
    "django_celery_beat.IntervalSchedule": _interval,
    "catalog.SyncRun": lambda: SyncRun.objects.create(source="api"),
    "catalog.Artwork": _artwork,
    "catalog.QueryPin": lambda: QueryPin.objects.create(query="a quiet harbour", artwork=_artwork(), position=1),
    "catalog.Synonym": lambda: Synonym.objects.create(terms="sea, ocean"),
    "embeddings.EmbeddingFailure": lambda: EmbeddingFailure.objects.create(
        artwork=_artwork(), model=_model(), reason="timeout"
    ),
    "embeddings.EmbeddingModel": _model,
    "training.EvaluationReport": lambda: EvaluationReport.objects.create(
        model=_model(), split="test", pairs=3, metrics={}, report={}
    ),
    "training.TrainingJob": lambda: TrainingJob.objects.create(architecture="museum-micro", pretrained="none"),
    "search.SearchEvaluation": lambda: SearchEvaluation.objects.create(
        queries_file="queries.jsonl", queries=1, modes={}, kinds={}, worst={}
    ),
    "search.InterleavingExperiment": lambda: InterleavingExperiment.objects.create(name="by words", share=0.1),
    "search.InterleavedSearch": lambda: InterleavedSearch.objects.create(
        search=SearchLogEntry.objects.create(
            search_id=uuid.uuid4(),
            query="sea",
            mode="hybrid",
            result_count=24,
            source="page",
            created_at=timezone.now(),
        ),
        experiment=InterleavingExperiment.objects.create(name="teams", share=0.1),
        teams="AB",
    ),
}


# --- What each action needs, and how its effect shows -------------------------------------------------


@dataclass(frozen=True)
class Case:
    permission: str  # app_label.codename
    setup: Callable[[pytest.MonkeyPatch, list[Any]], models.Model]  # the object to select; calls go in the list
    happened: Callable[[models.Model, list[Any]], bool]


def _deleted(label: str) -> Case:
    app_label, name = label.split(".")
    return Case(
        f"{app_label}.delete_{name.lower()}",
        lambda monkeypatch, calls: OBJECTS[label](),
        lambda obj, calls: not type(obj)._default_manager.filter(pk=obj.pk).exists(),
    )


def _record(monkeypatch: pytest.MonkeyPatch, calls: list[Any], target: str, result: Any = None) -> None:
    def recorder(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return result

    monkeypatch.setattr(target, recorder)


def _reembed_setup(monkeypatch: pytest.MonkeyPatch, calls: list[Any]) -> models.Model:
    _model("active", is_active=True)
    _record(monkeypatch, calls, "embeddings.admin.enqueue_embedding", 1)
    return _artwork()


def _activation_setup(monkeypatch: pytest.MonkeyPatch, calls: list[Any]) -> models.Model:
    _record(monkeypatch, calls, "embeddings.admin.request_activation")
    return _model()


def _prune_setup(monkeypatch: pytest.MonkeyPatch, calls: list[Any]) -> models.Model:
    _record(monkeypatch, calls, "embeddings.admin.prune_vectors", 0)
    return _model()


def _approve_setup(monkeypatch: pytest.MonkeyPatch, calls: list[Any]) -> models.Model:
    _record(monkeypatch, calls, "catalog.admin.approve_held_withdrawal", 40)
    return SyncRun.objects.create(source="api", withdrawal_held="would withdraw 40 of 315 artworks")


def _run_tasks_setup(monkeypatch: pytest.MonkeyPatch, calls: list[Any]) -> models.Model:
    celery_app.loader.import_default_modules()
    task = celery_app.tasks["catalog.tasks.sync_aic_task"]
    monkeypatch.setattr(task, "apply_async", lambda *args, **kwargs: calls.append(kwargs))
    return _periodic_task()


def _started() -> InterleavingExperiment:
    experiment = InterleavingExperiment.objects.create(name="running", share=0.1)
    experiment.start()
    return experiment


def _enabled(obj: models.Model) -> bool:
    return PeriodicTask.objects.get(pk=obj.pk).enabled


CASES: dict[tuple[str, str], Case] = {
    **{(label, "delete_selected"): _deleted(label) for label in OBJECTS},
    ("catalog.Artwork", "hide"): Case(
        "catalog.change_artwork",
        lambda monkeypatch, calls: _artwork(),
        lambda obj, calls: Artwork.objects.get(pk=obj.pk).is_hidden,
    ),
    ("catalog.Artwork", "unhide"): Case(
        "catalog.change_artwork",
        lambda monkeypatch, calls: _artwork(is_hidden=True),
        lambda obj, calls: not Artwork.objects.get(pk=obj.pk).is_hidden,
    ),
    ("catalog.Artwork", "reembed"): Case("catalog.change_artwork", _reembed_setup, lambda obj, calls: bool(calls)),
    ("catalog.SyncRun", "approve_withdrawals"): Case(
        "catalog.approve_withdrawal", _approve_setup, lambda obj, calls: bool(calls)
    ),
    ("embeddings.EmbeddingModel", "activate"): Case(
        "embeddings.activate_embeddingmodel",
        _activation_setup,
        lambda obj, calls: [kwargs for _args, kwargs in calls] == [{"force": False}],
    ),
    ("embeddings.EmbeddingModel", "activate_without_gate"): Case(
        "embeddings.force_activate_embeddingmodel",
        _activation_setup,
        lambda obj, calls: [kwargs for _args, kwargs in calls] == [{"force": True}],
    ),
    ("embeddings.EmbeddingModel", "prune_vectors"): Case(
        "embeddings.prune_embeddingmodel", _prune_setup, lambda obj, calls: bool(calls)
    ),
    ("search.InterleavingExperiment", "start_experiment"): Case(
        "search.change_interleavingexperiment",
        lambda monkeypatch, calls: OBJECTS["search.InterleavingExperiment"](),
        lambda obj, calls: InterleavingExperiment.objects.get(pk=obj.pk).is_running,
    ),
    ("search.InterleavingExperiment", "stop_experiment"): Case(
        "search.change_interleavingexperiment",
        lambda monkeypatch, calls: _started(),
        lambda obj, calls: not InterleavingExperiment.objects.get(pk=obj.pk).is_running,
    ),
    ("training.TrainingJob", "queue_again"): Case(
        "training.run_trainingjob",
        lambda monkeypatch, calls: TrainingJob.objects.create(
            architecture="museum-micro", pretrained="none", status=TrainingJob.Status.FAILED, error="out of memory"
        ),
        lambda obj, calls: TrainingJob.objects.get(pk=obj.pk).status == TrainingJob.Status.QUEUED,
    ),
    ("django_celery_beat.PeriodicTask", "enable_tasks"): Case(
        "django_celery_beat.change_periodictask",
        lambda monkeypatch, calls: _periodic_task(enabled=False),
        lambda obj, calls: _enabled(obj),
    ),
    ("django_celery_beat.PeriodicTask", "disable_tasks"): Case(
        "django_celery_beat.change_periodictask",
        lambda monkeypatch, calls: _periodic_task(),
        lambda obj, calls: not _enabled(obj),
    ),
    ("django_celery_beat.PeriodicTask", "toggle_tasks"): Case(
        "django_celery_beat.change_periodictask",
        lambda monkeypatch, calls: _periodic_task(),
        lambda obj, calls: not _enabled(obj),
    ),
    ("django_celery_beat.PeriodicTask", "run_tasks"): Case(
        "django_celery_beat.change_periodictask", _run_tasks_setup, lambda obj, calls: bool(calls)
    ),
}


def _permission(dotted: str) -> Permission:
    app_label, codename = dotted.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def _staff(username: str, *permissions: str) -> Client:
    user = User.objects.create_user(username, password="a-long-pass-phrase", is_staff=True)
    user.user_permissions.add(*(_permission(p) for p in permissions))
    client = Client()
    client.force_login(user)
    return client


def _changelist(label: str) -> str:
    app_label, name = label.split(".")
    return f"/admin/{app_label}/{name.lower()}/"


def _run(client: Client, label: str, action: str, obj: models.Model) -> Any:
    # "post": the confirmation of delete_selected, ignored by the other actions.
    return client.post(_changelist(label), {"action": action, "_selected_action": [obj.pk], "post": "yes"})


# --- The tests ---------------------------------------------------------------------------------------


def test_every_admin_action_declares_a_permission() -> None:
    undeclared = sorted(
        f"{label}.{name}" for label, name, func in _base_actions() if not getattr(func, "allowed_permissions", None)
    )
    assert undeclared == []


def test_every_admin_action_has_a_case_here() -> None:
    assert {(label, name) for label, name, _func in _base_actions()} == set(CASES)


@pytest.mark.parametrize(("label", "action"), sorted(CASES), ids=lambda v: str(v))
def test_a_view_only_user_cannot_run_the_action_and_a_permitted_one_can(
    label: str, action: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[(label, action)]
    app_label, name = label.split(".")
    view = f"{app_label}.view_{name.lower()}"
    calls: list[Any] = []
    obj = case.setup(monkeypatch, calls)

    vera = _staff("vera_viewer", view)
    refused = _run(vera, label, action, obj)
    assert refused.status_code in (200, 302, 403)
    assert not case.happened(obj, calls), f"{label}.{action} ran for a view-only user"
    model_admin = admin.site._registry[type(obj)]
    request = RequestFactory().get("/")
    request.user = User.objects.get(username="vera_viewer")
    assert action not in model_admin.get_actions(request)

    carla = _staff("carla_curator", view, case.permission)
    response = _run(carla, label, action, obj)
    assert response.status_code in (200, 302)
    assert case.happened(obj, calls), f"{label}.{action} did not run with {case.permission}"
