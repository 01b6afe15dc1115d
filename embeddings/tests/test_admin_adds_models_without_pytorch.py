"""In a web process where PyTorch, torchvision and open_clip cannot be imported (the production web
image), a curator's post of the admin's add form is answered with the redirect to the model list and
queues the registration, which an embed worker (with PyTorch) carries out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import TEST_MODEL_ARCH, wait_until
from embeddings.encoders.image_onnx import find_image_export
from embeddings.encoders.text_onnx import find_export
from embeddings.models import EmbeddingModel
from embeddings.registration import RegistrationState, registration
from embeddings.tests.curators import ADD_URL, LIST_URL, PASSWORD, csrf_token, curator
from museum_site.tests.processes import one_worker_gunicorn
from museum_site.tests.without_pytorch import env_without_pytorch

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def web(test_database_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """gunicorn with one worker and no PyTorch, as the production web image runs it; yields its url
    and the log of the imports it was refused."""
    env = env_without_pytorch(tmp_path, DATABASE_URL=test_database_url, ALLOWED_HOSTS="127.0.0.1")
    with one_worker_gunicorn(env, tmp_path / "gunicorn.log") as web:
        yield web.url, Path(env["UNIMPORTABLE_LOG"])


def _form_token(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=30)
    assert page.status_code == 200, page.text[-2000:]
    return csrf_token(page.text)


def test_the_add_form_queues_the_registration_without_pytorch(
    web: tuple[str, Path], celery_worker: Any, clip_checkpoint: str
) -> None:
    url, refused_log = web
    user = curator()
    browser = requests.Session()
    login = browser.post(
        f"{url}/admin/login/",
        data={
            "username": user.username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": _form_token(browser, f"{url}/admin/login/"),
            "next": LIST_URL,
        },
        allow_redirects=False,
        timeout=30,
    )
    assert login.status_code == 302, login.text[-2000:]

    fields = {"name": "micro-web", "architecture": TEST_MODEL_ARCH, "pretrained": clip_checkpoint, "notes": ""}
    response = browser.post(
        f"{url}{ADD_URL}",
        data={**fields, "csrfmiddlewaretoken": _form_token(browser, f"{url}{ADD_URL}"), "_save": "Save"},
        allow_redirects=False,
        timeout=30,
    )

    assert response.status_code == 302, response.text[-3000:]
    assert response.headers["Location"] == LIST_URL
    listing = browser.get(f"{url}{LIST_URL}", timeout=30)
    assert listing.status_code == 200
    assert re.search(r"Registration of micro-web queued: the model appears in this list once a worker", listing.text)

    wait_until(lambda: (status := registration("micro-web")) is not None and status.state != "queued", timeout=180)
    status = registration("micro-web")
    assert status is not None and status.state == RegistrationState.REGISTERED, status
    model = EmbeddingModel.objects.get(name="micro-web")
    assert model.dimension == 32 and find_export(model) is not None and find_image_export(model) is not None
    # Nothing the web process ran even tried to import PyTorch.
    assert (refused_log.read_text() if refused_log.exists() else "") == ""
