"""The evaluation gate: a model with lower test recall@5 than the active one is not activated unless forced."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import torch
from django.core.management import CommandError, call_command

from catalog.harvest import sync_from_api
from embeddings.activation.service import activate
from embeddings.encoders.registry import register_model
from embeddings.models import ArtworkEmbedding, EmbeddingModel
from training.models import EvaluationReport

pytestmark = pytest.mark.django_db(transaction=True)


def collapsed_checkpoint(checkpoint: str, folder: Path) -> str:
    """The same weights with the text projection zeroed: every caption gets the same vector, recall 0."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    state["text_projection"] = torch.zeros_like(state["text_projection"])
    path = folder / "collapsed.pt"
    torch.save({"state_dict": state}, path)
    return str(path)


def test_it_refuses_a_worse_model_unless_forced(aic: Any, clip_checkpoint: str, tmp_path: Path) -> None:
    sync_from_api(limit=60)
    activate(register_model("micro", "museum-micro", clip_checkpoint))
    register_model("collapsed", "museum-micro", collapsed_checkpoint(clip_checkpoint, tmp_path))

    with pytest.raises(CommandError, match=r"test t2i_recall@5 of collapsed is 0\.000, below the active micro's"):
        call_command("activate_model", "collapsed", stdout=io.StringIO())

    assert EmbeddingModel.active() == EmbeddingModel.objects.get(name="micro")
    assert not ArtworkEmbedding.objects.filter(model__name="collapsed").exists()  # refused before any work
    gate_reports = EvaluationReport.objects.filter(split="test")
    assert sorted(gate_reports.values_list("model__name", flat=True)) == ["collapsed", "micro"]

    output = io.StringIO()
    call_command("activate_model", "collapsed", "--force", stdout=output)

    assert "gate overridden" in output.getvalue()
    assert EmbeddingModel.active() == EmbeddingModel.objects.get(name="collapsed")


def test_it_lets_an_equal_model_through(aic: Any, clip_checkpoint: str, tmp_path: Path) -> None:
    sync_from_api(limit=60)
    activate(register_model("micro", "museum-micro", clip_checkpoint))
    copy = tmp_path / "copy.pt"
    copy.write_bytes(Path(clip_checkpoint).read_bytes())
    register_model("micro-copy", "museum-micro", str(copy))

    call_command("activate_model", "micro-copy", stdout=io.StringIO())

    assert EmbeddingModel.active() == EmbeddingModel.objects.get(name="micro-copy")
