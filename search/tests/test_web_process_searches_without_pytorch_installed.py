"""A web process (gunicorn, as in production) where PyTorch, torchvision and open_clip cannot be
imported at all, as in the production web image, answers text searches and searches by an uploaded
picture with the towers' ONNX exports, against the real database, with open_clip's rankings."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import torch

from catalog.models import Artwork
from conftest import SAMPLE_DIR
from embeddings.encoders.clip import TextEncoder
from embeddings.encoders.image_onnx import find_image_export
from embeddings.encoders.text_onnx import find_export
from embeddings.encoders.types import Spec
from embeddings.models import ArtworkEmbedding
from museum_site.tests.processes import ROOT, one_worker_gunicorn
from museum_site.tests.without_pytorch import env_without_pytorch as without_pytorch

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class WebProcess:
    url: str
    worker: int
    attempts: Path


@pytest.fixture
def env_without_pytorch(tmp_path: Path, test_database_url: str) -> dict[str, str]:
    return without_pytorch(
        tmp_path,
        DATABASE_URL=test_database_url,
        ALLOWED_HOSTS="127.0.0.1",
        # Every query is encoded by the web process itself, none read from Redis.
        SEARCH_QUERY_CACHE_SECONDS="0",
        SEARCH_RESULT_CACHE_SECONDS="0",
    )


@pytest.fixture
def web(
    env_without_pytorch: dict[str, str], indexed: list[Artwork], embedding_model: Any, tmp_path: Path
) -> Iterator[WebProcess]:
    """gunicorn with one worker, as the production image runs it; the model's exports were made when
    it was registered, in this process."""
    assert find_export(embedding_model) is not None and find_image_export(embedding_model) is not None
    with one_worker_gunicorn(env_without_pytorch, tmp_path / "gunicorn.log") as web:
        yield WebProcess(web.url, web.worker_pid, Path(env_without_pytorch["UNIMPORTABLE_LOG"]))


def _open_clip_ranking(model: Any, query: str) -> list[int]:
    vector = TextEncoder(Spec(model.architecture, model.pretrained), torch.device("cpu")).encode([query])[0]
    rows = list(ArtworkEmbedding.objects.filter(model=model).select_related("artwork"))
    scores = np.array([float(np.dot(np.asarray(row.vector), vector)) for row in rows])
    return [rows[index].artwork.aic_id for index in np.argsort(-scores)]


def test_the_environment_makes_pytorch_unimportable(env_without_pytorch: dict[str, str]) -> None:
    for package in ("torch", "torchvision", "open_clip"):
        result = subprocess.run(
            [sys.executable, "-c", f"import {package}"], cwd=ROOT, env=env_without_pytorch, capture_output=True
        )
        assert result.returncode != 0 and b"ModuleNotFoundError" in result.stderr


def test_text_and_image_searches_are_answered_without_pytorch(
    web: WebProcess, indexed: list[Artwork], embedding_model: Any
) -> None:
    query = "a stormy sea at night"
    response = requests.get(f"{web.url}/api/search", params={"q": query, "k": 5, "mode": "semantic"}, timeout=60)
    assert response.status_code == 200, response.text
    assert [hit["id"] for hit in response.json()["results"]] == _open_clip_ranking(embedding_model, query)[:5]

    for artwork in indexed[2:5]:
        picture = (SAMPLE_DIR / "images" / f"{artwork.image_id}.jpg").read_bytes()
        response = requests.post(
            f"{web.url}/api/search/image",
            params={"k": 5},
            files={"image": ("photo.jpg", picture, "image/jpeg")},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        hits = response.json()["results"]
        assert len(hits) == 5 and hits[0]["id"] == artwork.aic_id

    model = requests.get(f"{web.url}/healthz", timeout=10).json()["model"]
    assert model["text_runtime"] == "onnxruntime" and model["image_runtime"] == "onnxruntime"
    refused = web.attempts.read_text() if web.attempts.exists() else ""
    assert refused == ""  # nothing the web process ran even tried
    mapped = Path(f"/proc/{web.worker}/maps").read_text()
    assert "onnxruntime" in mapped and "libtorch" not in mapped
