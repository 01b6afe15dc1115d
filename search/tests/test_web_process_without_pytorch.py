"""The production web process (gunicorn) answers text searches with the ONNX export of the text tower:
the ranking is the one open_clip's vectors give, and the process never maps PyTorch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import torch

from catalog.models import Artwork
from embeddings.encoders.clip import TextEncoder
from embeddings.encoders.types import Spec
from embeddings.models import ArtworkEmbedding
from museum_site.tests.processes import one_worker_gunicorn, worker_env

pytestmark = pytest.mark.django_db(transaction=True)

QUERIES = ["a stormy sea at night", "portrait of a woman", "flowers in a vase"]


@pytest.fixture
def web(test_database_url: str, indexed: list[Artwork], tmp_path: Path) -> Iterator[tuple[str, int]]:
    """gunicorn with one worker, as the production image runs it; yields (url, the worker's pid)."""
    env = worker_env(
        DATABASE_URL=test_database_url,
        ALLOWED_HOSTS="127.0.0.1",
        # Every query is encoded by the web process itself, none read from Redis.
        SEARCH_QUERY_CACHE_SECONDS="0",
        SEARCH_RESULT_CACHE_SECONDS="0",
    )
    with one_worker_gunicorn(env, tmp_path / "gunicorn.log") as web:
        yield web.url, web.worker_pid


def _exact_ranking(model: Any, query: str) -> list[int]:
    vector = TextEncoder(Spec(model.architecture, model.pretrained), torch.device("cpu")).encode([query])[0]
    rows = list(ArtworkEmbedding.objects.filter(model=model).select_related("artwork"))
    scores = np.array([float(np.dot(np.asarray(row.vector), vector)) for row in rows])
    return [rows[index].artwork.aic_id for index in np.argsort(-scores)]


def test_gunicorn_ranks_as_open_clip_does_and_never_loads_pytorch(web: tuple[str, int], embedding_model: Any) -> None:
    url, worker = web
    for query in QUERIES:
        response = requests.get(f"{url}/api/search", params={"q": query, "k": 5, "mode": "semantic"}, timeout=60)
        assert response.status_code == 200, response.text
        assert [hit["id"] for hit in response.json()["results"]] == _exact_ranking(embedding_model, query)[:5]
    health = requests.get(f"{url}/healthz", timeout=10).json()
    assert health["model"]["loaded_in_this_process"] is True
    assert health["model"]["text_runtime"] == "onnxruntime"
    mapped = Path(f"/proc/{worker}/maps").read_text()
    assert "onnxruntime" in mapped
    assert "libtorch" not in mapped and "libtriton" not in mapped
