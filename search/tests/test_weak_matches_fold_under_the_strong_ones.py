"""Semantic matches below the model's calibrated threshold are weak: marked, counted out of "strong",
and listed after the strong ones; a query with no strong match says so on the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from catalog.harvest import import_dump
from catalog.models import Artwork
from conftest import SAMPLE_DIR, TEST_MODEL_ARCH
from embeddings.models import EmbeddingModel
from embeddings.pipeline import embed_artworks
from training.finetune import finetune
from training.options import TrainOptions

pytestmark = pytest.mark.django_db(transaction=True)

NONSENSE = "qwxzv plmk"
TITLE = "Stacks of Wheat (End of Summer)"


def _search(client: Client, **params: Any) -> dict[str, Any]:
    response = client.get("/api/search", params)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def test_a_trained_model_finds_no_strong_match_for_nonsense_but_does_for_a_title(
    client: Client, aic: Any, clip_checkpoint: str, settings: Any, shared_image_cache: Path, tmp_path: Path
) -> None:
    settings.IMAGE_CACHE_DIR = shared_image_cache
    import_dump(SAMPLE_DIR / "records")
    report = finetune(
        architecture=TEST_MODEL_ARCH,
        pretrained=clip_checkpoint,
        out_dir=tmp_path / "run",
        from_catalog=True,
        options=TrainOptions(epochs=3, batch_size=32, lr=1e-3),
        device="cpu",
        register_name="micro-trained",
    )
    model = EmbeddingModel.objects.get(name="micro-trained")
    # The threshold is calibrated on the test split as the model is registered, and stored with it.
    assert model.match_threshold is not None
    assert model.match_threshold == pytest.approx(report["calibration"]["match_threshold"])
    model.activate()
    with_image = list(Artwork.objects.exclude(image_id="").values_list("pk", flat=True))
    assert len(embed_artworks(with_image, model).embedded) == len(with_image)

    for mode in ("semantic", "hybrid"):
        body = _search(client, q=NONSENSE, mode=mode)
        assert body["match_threshold"] == pytest.approx(model.match_threshold)
        assert body["results"], "the nearest weak matches are still shown"
        assert body["strong"] == 0
        assert all(hit["weak"] for hit in body["results"])

    titled = Artwork.objects.get(title=TITLE).aic_id
    body = _search(client, q=TITLE, mode="hybrid")
    assert body["strong"] >= 1
    strong = body["results"][: body["strong"]]
    assert titled in [hit["id"] for hit in strong]
    assert not any(hit["weak"] for hit in strong) and all(hit["weak"] for hit in body["results"][body["strong"] :])
    # An artwork the keyword list holds is never weak: its words match.
    assert all(not hit["weak"] for hit in body["results"] if hit["why"]["keyword_rank"] is not None)

    page = client.get("/", {"q": NONSENSE, "mode": "semantic"}).content.decode()
    assert f"No close match for “{NONSENSE}”; here are the nearest, weaker matches." in page
    assert '<details class="weaker" open>' in page


def test_hits_below_the_threshold_are_weak_and_come_last(
    client: Client, indexed: list[Artwork], embedding_model: EmbeddingModel
) -> None:
    uncalibrated = _search(client, q="portrait", mode="semantic", k=20)
    # A model without a threshold calls nothing weak.
    assert uncalibrated["match_threshold"] is None
    assert uncalibrated["strong"] == 20 and not any(hit["weak"] for hit in uncalibrated["results"])
    assert not any(hit["why"]["visual_match"] for hit in uncalibrated["results"])
    similarities = sorted(hit["why"]["similarity"] for hit in uncalibrated["results"])
    middle = len(similarities) // 2
    threshold = (similarities[middle - 1] + similarities[middle]) / 2  # between two shown (rounded) values
    EmbeddingModel.objects.filter(pk=embedding_model.pk).update(match_threshold=threshold)

    body = _search(client, q="portrait", mode="semantic", k=21)  # another size: not the cached answer

    above = [hit for hit in body["results"] if hit["why"]["similarity"] >= threshold]
    assert body["strong"] == len(above) > 0
    assert body["results"][: body["strong"]] == above
    assert all(hit["why"]["visual_match"] and not hit["weak"] for hit in above)
    assert all(hit["weak"] and not hit["why"]["visual_match"] for hit in body["results"][body["strong"] :])
    assert len(body["results"]) > body["strong"]

    keyword = _search(client, q="portrait", mode="keyword", k=21)
    assert keyword["match_threshold"] is None and not any(hit["weak"] for hit in keyword["results"])
