"""Activation embeds everything under the new model while the old one serves, then switches at once."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import open_clip
import pytest
import torch
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models.functions import Cast
from pgvector.django import CosineDistance, VectorField

from catalog.harvest import sync_from_api
from catalog.models import Artwork
from embeddings.activation.service import activate
from embeddings.activation.status import ActivationStatus, activation_status
from embeddings.encoders.clip import register_model_configs
from embeddings.encoders.registry import register_model
from embeddings.images.iiif_cache import ImageCache
from embeddings.models import ArtworkEmbedding, EmbeddingModel

pytestmark = pytest.mark.django_db(transaction=True)

NARROW, WIDE = "museum-micro-512", "museum-micro-768"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Seeded random weights for two micro architectures whose vectors have 512 and 768 dimensions."""
    register_model_configs()
    folder = tmp_path_factory.mktemp("lifecycle-weights")
    paths = {}
    for seed, architecture in enumerate((NARROW, WIDE)):
        torch.manual_seed(seed)
        model = open_clip.create_model(architecture, pretrained=None)
        paths[architecture] = str(folder / f"{architecture}.pt")
        torch.save({"state_dict": model.state_dict()}, paths[architecture])
    return paths


@pytest.fixture
def catalog(aic: Any, settings: Any) -> list[Artwork]:
    settings.EMBED_BATCH_SIZE = 8  # several batches, so progress can be seen between them
    sync_from_api(limit=24)
    return list(Artwork.objects.exclude(image_id="").order_by("pk"))


def _activate_first(checkpoints: dict[str, str]) -> EmbeddingModel:
    first = register_model("first", NARROW, checkpoints[NARROW])
    call_command("activate_model", "first", stdout=io.StringIO())
    first.refresh_from_db()
    return first


def _index_definition(model: EmbeddingModel) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [model.hnsw_index_name])
        row = cursor.fetchone()
    return row[0] if row else None


def test_it_embeds_every_artwork_while_the_old_model_serves_then_switches(
    catalog: list[Artwork], checkpoints: dict[str, str]
) -> None:
    first = _activate_first(checkpoints)
    assert first.is_active
    assert ArtworkEmbedding.objects.filter(model=first).count() == len(catalog)
    second = register_model("second", WIDE, checkpoints[WIDE])
    assert not second.is_active  # registered models start inactive

    seen: list[tuple[str, int, int]] = []

    def look(status: ActivationStatus) -> None:
        if status.state == "embedding" and status.done:
            active = EmbeddingModel.active()
            assert active is not None
            seen.append((active.name, ArtworkEmbedding.objects.filter(model=second).count(), status.done))

    status = activate(second, force=True, on_status=look)

    assert status.state == "active"
    assert [done for _, _, done in seen] == [min(done, len(catalog)) for done in range(8, len(catalog) + 8, 8)]
    assert all(active == "first" for active, _, _ in seen)  # the old model served throughout
    assert any(0 < embedded < len(catalog) for _, embedded, _ in seen)
    assert EmbeddingModel.active() == second
    stored = activation_status(second)
    assert stored is not None and stored.state == "active" and stored.embedded == len(catalog)


def test_vectors_of_512_and_768_dimensions_coexist_each_with_its_own_index(
    catalog: list[Artwork], checkpoints: dict[str, str]
) -> None:
    first = _activate_first(checkpoints)
    second = register_model("second", WIDE, checkpoints[WIDE])
    activate(second, force=True)

    for model, dimension in ((first, 512), (second, 768)):
        rows = list(ArtworkEmbedding.objects.filter(model=model))
        assert len(rows) == len(catalog)
        assert {len(row.vector) for row in rows} == {dimension}
        assert f"halfvec({dimension})" in (_index_definition(model) or "")
        # A nearest-neighbour query under each model finds an artwork's own vector first.
        probe = rows[3]
        nearest = (
            ArtworkEmbedding.objects.filter(model=model)
            .annotate(
                distance=CosineDistance(Cast("vector", VectorField(dimensions=dimension)), np.asarray(probe.vector))
            )
            .order_by("distance")
            .first()
        )
        assert nearest is not None and nearest.artwork_id == probe.artwork_id


def test_the_command_shows_progress_and_refuses_to_switch_while_served_artworks_lack_vectors(
    aic: Any, catalog: list[Artwork], checkpoints: dict[str, str]
) -> None:
    _activate_first(checkpoints)
    register_model("second", WIDE, checkpoints[WIDE])
    broken = catalog[5]
    ImageCache.from_settings().path_for(broken.image_id).unlink()  # the new model must fetch it again...
    aic.set_image_bytes(broken.image_id, b"<html>gone</html>", content_type="text/html")  # ...and cannot

    output = io.StringIO()
    with pytest.raises(CommandError, match=rf"could not be embedded \(artwork ids {broken.pk};"):
        call_command("activate_model", "second", "--force", stdout=output)

    assert f"second: embedding, 8/{len(catalog)} artworks handled (7 embedded, 1 failed)" in output.getvalue()
    assert EmbeddingModel.active() == EmbeddingModel.objects.get(name="first")
    second = EmbeddingModel.objects.get(name="second")
    assert ArtworkEmbedding.objects.filter(model=second).count() == len(catalog) - 1
    stored = activation_status(second)
    assert stored is not None and stored.state == "incomplete"

    # A curator hides the artwork: search no longer serves it, so the switch may go ahead.
    Artwork.objects.filter(pk=broken.pk).update(is_hidden=True)
    call_command("activate_model", "second", "--force", stdout=output)
    assert EmbeddingModel.active() == second


def test_it_prunes_the_replaced_models_vectors_but_never_the_active_ones(
    catalog: list[Artwork], checkpoints: dict[str, str]
) -> None:
    first = _activate_first(checkpoints)
    register_model("second", WIDE, checkpoints[WIDE])

    output = io.StringIO()
    call_command("activate_model", "second", "--force", "--prune", stdout=output)

    assert f"pruned {len(catalog)} vectors of first" in output.getvalue()
    assert not ArtworkEmbedding.objects.filter(model=first).exists()
    assert _index_definition(first) is None
    assert ArtworkEmbedding.objects.filter(model__name="second").count() == len(catalog)
    with pytest.raises(CommandError, match="is the active model"):
        call_command("prune_model_vectors", "second")

    # Activating the pruned model again rebuilds its vectors and its index.
    call_command("activate_model", "first", "--force", stdout=output)
    call_command("prune_model_vectors", "second", stdout=output)
    assert f"pruned {len(catalog)} vectors of second" in output.getvalue()
    assert ArtworkEmbedding.objects.filter(model=first).count() == len(catalog)
    assert "halfvec(512)" in (_index_definition(first) or "")


def test_it_says_so_when_the_model_is_already_active(catalog: list[Artwork], checkpoints: dict[str, str]) -> None:
    _activate_first(checkpoints)
    output = io.StringIO()

    call_command("activate_model", "first", stdout=output)

    assert "already the active model" in output.getvalue()
