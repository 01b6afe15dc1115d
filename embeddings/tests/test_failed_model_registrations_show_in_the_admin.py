"""A registration the worker cannot carry out (an unknown architecture, weights that do not load)
creates no model and shows on the model list with its reason, until it is added again and succeeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from conftest import TEST_MODEL_ARCH, wait_until
from embeddings.models import EmbeddingModel
from embeddings.registration import RegistrationState, registration
from embeddings.tests.curators import ADD_URL, LIST_URL, PASSWORD, csrf_token, curator, post_add_form

pytestmark = pytest.mark.django_db(transaction=True)


def _settled(name: str) -> RegistrationState:
    wait_until(lambda: (status := registration(name)) is not None and status.state != "queued", timeout=180)
    status = registration(name)
    assert status is not None
    return status.state


def _errors_on_the_list(client: Client) -> list[str]:
    """The failures the model list shows of this test's registrations (the suite shares one Redis)."""
    page = client.get(LIST_URL)
    assert page.status_code == 200
    mine = ("Registration of no-such ", "Registration of broken ")
    return [
        str(message)
        for message in page.context["messages"]
        if message.level_tag == "error" and str(message).startswith(mine)
    ]


def test_failed_registrations_are_listed_with_their_reason(
    celery_worker: Any, clip_checkpoint: str, tmp_path: Path
) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=curator().username, password=PASSWORD)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")

    response = post_add_form(client, {"name": "no-such", "architecture": "ViT-Nope-99", "pretrained": clip_checkpoint})
    assert response.status_code == 302
    assert _settled("no-such") == RegistrationState.FAILED
    response = post_add_form(client, {"name": "broken", "architecture": TEST_MODEL_ARCH, "pretrained": str(garbage)})
    assert response.status_code == 302
    assert _settled("broken") == RegistrationState.FAILED

    assert not EmbeddingModel.objects.exists()
    errors = _errors_on_the_list(client)
    assert len(errors) == 2
    # Newest first.
    assert errors[0].startswith(f"Registration of broken ({TEST_MODEL_ARCH}, {garbage}): failed: cannot load")
    assert errors[1].startswith(
        f"Registration of no-such (ViT-Nope-99, {clip_checkpoint}): failed: unknown architecture 'ViT-Nope-99'"
    )

    # Added again with weights that load, it is registered and no longer listed as failed.
    response = post_add_form(client, {"name": "broken", "architecture": TEST_MODEL_ARCH, "pretrained": clip_checkpoint})
    assert response.status_code == 302
    assert _settled("broken") == RegistrationState.REGISTERED
    assert EmbeddingModel.objects.get().name == "broken"
    errors = _errors_on_the_list(client)
    assert len(errors) == 1 and errors[0].startswith("Registration of no-such")


def test_a_registration_the_broker_cannot_take_answers_503_and_shows_as_not_queued() -> None:
    from museum_site.celery import app as site_app

    # The app's connection pools are private: set aside here and put back, so later tests use the broker.
    app: Any = site_app
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=curator().username, password=PASSWORD)
    page = client.get(ADD_URL)
    broker_url, pool, producers = app.conf.broker_url, app._pool, app.amqp._producer_pool
    # Nothing listens on port 9: the broker is away while the model list and its statuses still answer.
    app.conf.broker_url, app._pool, app.amqp._producer_pool = "redis://127.0.0.1:9/0", None, None
    try:
        response = client.post(
            ADD_URL,
            {
                "name": "unsent",
                "architecture": TEST_MODEL_ARCH,
                "pretrained": "none",
                "csrfmiddlewaretoken": csrf_token(page.content.decode()),
                "_save": "Save",
            },
        )
    finally:
        app.conf.broker_url, app._pool, app.amqp._producer_pool = broker_url, pool, producers

    assert response.status_code == 503 and response["Retry-After"]
    status = registration("unsent")
    assert status is not None and status.state == RegistrationState.FAILED
    assert status.message.startswith("not queued:")
    assert not EmbeddingModel.objects.filter(name="unsent").exists()
