"""The admin's activation runs on a real embed worker: gate, embedding fanned out on the embed queue,
switch, and progress in the admin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from django.test import Client

from catalog.harvest import sync_from_api
from catalog.models import Artwork
from conftest import wait_until
from embeddings.activation.service import activate
from embeddings.activation.status import activation_status
from embeddings.encoders.registry import register_model
from embeddings.models import ArtworkEmbedding, EmbeddingModel

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def served(celery_worker: Any, sample_aic: Any, settings: Any, clip_checkpoint: str) -> EmbeddingModel:
    """60 harvested artworks served by an active micro model, with the worker's image server."""
    settings.AIC_API_URL = sample_aic.api_url
    settings.AIC_IIIF_URL = sample_aic.iiif_url
    sync_from_api(limit=60)
    model = register_model("micro", "museum-micro", clip_checkpoint)
    activate(model)
    return model


def _admin_action(client: Client, action: str, model: EmbeddingModel) -> None:
    response = client.post(
        "/admin/embeddings/embeddingmodel/", {"action": action, "_selected_action": [model.pk]}, follow=True
    )
    assert response.status_code == 200


def test_the_admin_action_activates_a_model_through_an_embed_worker(
    served: EmbeddingModel, admin_client: Client, clip_checkpoint: str, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.pt"
    copy.write_bytes(Path(clip_checkpoint).read_bytes())
    candidate = register_model("micro-copy", "museum-micro", str(copy))

    _admin_action(admin_client, "activate", candidate)

    # The status says active once the switch and what follows it (stragglers queued) are done.
    wait_until(lambda: (status := activation_status(candidate)) is not None and status.state == "active", timeout=120)
    assert EmbeddingModel.active() == candidate
    with_image = Artwork.objects.exclude(image_id="").count()
    assert ArtworkEmbedding.objects.filter(model=candidate).count() == with_image
    status = activation_status(candidate)
    assert status is not None and status.state == "active" and status.embedded == with_image
    # The worker ran the evaluation gate: both models were measured on the test split.
    assert sorted(candidate.evaluation_reports.values_list("split", flat=True)) == ["test"]
    listing = admin_client.get("/admin/embeddings/embeddingmodel/").content.decode()
    assert f"micro-copy: active, {with_image}/{with_image} artworks handled" in listing


def test_a_refused_activation_leaves_the_active_model_serving(
    served: EmbeddingModel, admin_client: Client, clip_checkpoint: str, tmp_path: Path
) -> None:
    state = torch.load(clip_checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    state["text_projection"] = torch.zeros_like(state["text_projection"])  # every caption alike: recall 0
    torch.save({"state_dict": state}, tmp_path / "collapsed.pt")
    candidate = register_model("collapsed", "museum-micro", str(tmp_path / "collapsed.pt"))

    _admin_action(admin_client, "activate", candidate)

    wait_until(lambda: (status := activation_status(candidate)) is not None and status.state == "refused", timeout=120)
    assert EmbeddingModel.active() == served
    assert not ArtworkEmbedding.objects.filter(model=candidate).exists()
    listing = admin_client.get("/admin/embeddings/embeddingmodel/").content.decode()
    assert "collapsed: refused" in listing and "below the active micro" in listing


def test_a_queued_activation_that_cannot_embed_a_served_artwork_ends_incomplete(
    served: EmbeddingModel, admin_client: Client, clip_checkpoint: str, tmp_path: Path
) -> None:
    # An artwork search serves under the active model whose image the IIIF server no longer has.
    template = ArtworkEmbedding.objects.filter(model=served).first()
    assert template is not None
    lost = Artwork.objects.create(aic_id=990_000_001, title="lost", image_id="lost-image", content_hash="lost")
    ArtworkEmbedding.objects.create(artwork=lost, model=served, vector=template.vector, image_id=lost.image_id)
    copy = tmp_path / "copy.pt"
    copy.write_bytes(Path(clip_checkpoint).read_bytes())
    candidate = register_model("micro-copy", "museum-micro", str(copy))

    _admin_action(admin_client, "activate_without_gate", candidate)

    ended = ("active", "incomplete", "failed", "refused")
    wait_until(lambda: (status := activation_status(candidate)) is not None and status.state in ended, timeout=120)
    status = activation_status(candidate)
    assert status is not None and status.state == "incomplete", status
    assert f"could not be embedded (artwork ids {lost.pk};" in status.message
    assert EmbeddingModel.active() == served
    with_image = Artwork.objects.exclude(image_id="").count()
    assert ArtworkEmbedding.objects.filter(model=candidate).count() == with_image - 1
    assert (status.done, status.embedded, status.failed) == (with_image, with_image - 1, 1)
