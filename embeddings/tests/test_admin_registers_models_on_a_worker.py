"""A curator adds a model in the admin: the web process queues its registration, and an embed worker
loads its weights, creates the row with the architecture's dimension and exports both towers."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from conftest import TEST_MODEL_ARCH, wait_until
from embeddings.encoders.image_onnx import find_image_export
from embeddings.encoders.text_onnx import find_export
from embeddings.models import EmbeddingModel
from embeddings.registration import RegistrationState, registration
from embeddings.tests.curators import ADD_URL, LIST_URL, PASSWORD, curator, post_add_form

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_added_model_is_registered_by_a_worker(celery_worker: Any, clip_checkpoint: str) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=curator().username, password=PASSWORD)
    form = client.get(ADD_URL).content.decode()
    # One way out of the form: there is no row to go on editing until the worker has made it.
    assert 'name="_save"' in form and 'name="_continue"' not in form and 'name="_addanother"' not in form

    response = post_add_form(
        client,
        {"name": "micro-added", "architecture": TEST_MODEL_ARCH, "pretrained": clip_checkpoint, "notes": "from admin"},
    )

    assert response.status_code == 302 and response["Location"] == LIST_URL
    # The browser follows the redirect to the model list, which says what happens next.
    page = client.get(response["Location"])
    assert page.status_code == 200
    shown = [str(message) for message in page.context["messages"]]
    assert (
        "Registration of micro-added queued: the model appears in this list once a worker has loaded its "
        "weights and exported its towers."
    ) in shown
    wait_until(lambda: (status := registration("micro-added")) is not None and status.state != "queued", timeout=180)
    status = registration("micro-added")
    assert status is not None and status.state == RegistrationState.REGISTERED, status
    model = EmbeddingModel.objects.get(name="micro-added")
    assert (model.architecture, model.pretrained, model.dimension, model.notes) == (
        TEST_MODEL_ARCH,
        clip_checkpoint,
        32,
        "from admin",
    )
    assert not model.is_active
    assert find_export(model) is not None and find_image_export(model) is not None
    listing = client.get(LIST_URL).content.decode()
    assert "micro-added" in listing and "Registration of micro-added" not in listing


def test_the_form_refuses_what_it_can_check_without_pytorch(clip_checkpoint: str) -> None:
    EmbeddingModel.objects.create(name="taken", architecture=TEST_MODEL_ARCH, pretrained=clip_checkpoint, dimension=16)
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=curator().username, password=PASSWORD)

    for fields, error in [
        ({"name": "taken", "architecture": TEST_MODEL_ARCH, "pretrained": clip_checkpoint}, "already exists"),
        ({"name": "not a slug", "architecture": TEST_MODEL_ARCH, "pretrained": clip_checkpoint}, "valid “slug”"),
        ({"name": "no-weights", "architecture": TEST_MODEL_ARCH, "pretrained": " "}, "This field is required"),
        ({"name": "no-architecture", "architecture": "", "pretrained": clip_checkpoint}, "This field is required"),
    ]:
        response = post_add_form(client, fields)
        assert response.status_code == 200 and error in response.content.decode(), fields
        assert registration(fields["name"]) is None
    assert list(EmbeddingModel.objects.values_list("name", flat=True)) == ["taken"]


def test_adding_needs_the_add_permission() -> None:
    User.objects.create_user("vic_viewer", password=PASSWORD, is_staff=True)
    client = Client(enforce_csrf_checks=True)
    assert client.login(username="vic_viewer", password=PASSWORD)
    assert client.get(ADD_URL).status_code == 403
