"""The jobs dashboard's buttons need their permissions: a staff user without one gets 403 and no effect."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django_celery_beat.models import PeriodicTask

from catalog.models import Artwork
from catalog.sync_status import HARVEST_SCHEDULE_NAME
from embeddings.models import EmbeddingFailure, EmbeddingModel
from operations.dashboard import ACTION_PERMISSIONS

pytestmark = pytest.mark.django_db

BUTTONS = {
    "pause": 'value="pause"',
    "harvest_now": 'value="harvest_now"',
    "retry_embeddings": 'value="retry_embeddings"',
}


def _staff(username: str, *permissions: str) -> Client:
    user = User.objects.create_user(username, password="a-long-pass-phrase", is_staff=True)
    for dotted in permissions:
        app_label, codename = dotted.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client = Client()
    client.force_login(user)
    return client


def _harvest_enabled() -> bool:
    return PeriodicTask.objects.get(name=HARVEST_SCHEDULE_NAME).enabled


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the dashboard sent to the workers (nothing reaches the broker)."""
    from catalog.tasks import sync_aic_task

    sent: list[str] = []

    def retry(ids: list[int], model: EmbeddingModel) -> int:
        sent.append("retry")
        return 1

    monkeypatch.setattr(sync_aic_task, "delay", lambda *args, **kwargs: sent.append("harvest"))
    monkeypatch.setattr("operations.dashboard.enqueue_embedding", retry)
    return sent


@pytest.fixture
def failure() -> EmbeddingFailure:
    artwork = Artwork.objects.create(aic_id=9001, title="A quiet harbour", content_hash="x", image_id="img-1")
    model = EmbeddingModel.objects.create(name="active", architecture="museum-micro", dimension=16, is_active=True)
    return EmbeddingFailure.objects.create(artwork=artwork, model=model, reason="IIIF HTTP 503")


def test_every_dashboard_action_needs_a_permission() -> None:
    assert set(ACTION_PERMISSIONS) == {"pause", "resume", "harvest_now", "retry_embeddings"}
    assert all(ACTION_PERMISSIONS.values())


def test_a_staff_user_without_permissions_gets_403_and_changes_nothing(
    queued: list[str], failure: EmbeddingFailure
) -> None:
    vera = _staff("vera_viewer")
    for action in ("pause", "harvest_now", "retry_embeddings"):
        assert vera.post("/admin/jobs/action", {"action": action}).status_code == 403, action
    assert _harvest_enabled() and queued == []
    PeriodicTask.objects.filter(name=HARVEST_SCHEDULE_NAME).update(enabled=False)
    assert vera.post("/admin/jobs/action", {"action": "resume"}).status_code == 403
    assert not _harvest_enabled()
    page = vera.get("/admin/jobs/").content.decode()
    assert not any(button in page for button in BUTTONS.values())


def test_schedules_pause_with_the_periodic_task_permission_only(queued: list[str]) -> None:
    sara = _staff("sara_scheduler", "django_celery_beat.change_periodictask")
    assert sara.post("/admin/jobs/action", {"action": "harvest_now"}).status_code == 403
    assert sara.post("/admin/jobs/action", {"action": "pause"}).status_code == 302
    assert not _harvest_enabled()
    assert sara.post("/admin/jobs/action", {"action": "resume"}).status_code == 302
    assert _harvest_enabled() and queued == []


def test_a_harvest_starts_with_the_run_harvest_permission(queued: list[str]) -> None:
    hana = _staff("hana_harvester", "catalog.run_harvest")
    assert hana.post("/admin/jobs/action", {"action": "pause"}).status_code == 403
    assert hana.post("/admin/jobs/action", {"action": "harvest_now"}).status_code == 302
    assert queued == ["harvest"] and _harvest_enabled()
    page = hana.get("/admin/jobs/").content.decode()
    assert BUTTONS["harvest_now"] in page and BUTTONS["pause"] not in page


def test_failed_embeddings_are_retried_with_the_failure_permission(
    queued: list[str], failure: EmbeddingFailure
) -> None:
    carla = _staff("carla_curator", "embeddings.change_embeddingfailure")
    assert carla.post("/admin/jobs/action", {"action": "harvest_now"}).status_code == 403
    assert carla.post("/admin/jobs/action", {"action": "retry_embeddings"}).status_code == 302
    assert queued == ["retry"]
    page = carla.get("/admin/jobs/").content.decode()
    assert BUTTONS["retry_embeddings"] in page and BUTTONS["harvest_now"] not in page


def test_an_unknown_action_is_a_bad_request(admin_client: Client, queued: list[str]) -> None:
    response: Any = admin_client.post("/admin/jobs/action", {"action": "drop_everything"})
    assert response.status_code == 400 and queued == []
