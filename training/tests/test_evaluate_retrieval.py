"""evaluate_retrieval: whole-split recall, median rank and in-batch recall, stored with plots for the admin."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from catalog.harvest import sync_from_api
from embeddings.models import EmbeddingModel
from training.finetune import finetune
from training.models import EvaluationReport
from training.options import TrainOptions

pytestmark = pytest.mark.django_db(transaction=True)

RANK_KEYS = {f"{d}_recall@{k}" for d in ("t2i", "i2t") for k in (1, 5, 10)} | {"t2i_median_rank", "i2t_median_rank"}


@pytest.fixture
def tuned(aic: Any, clip_checkpoint: str, tmp_path: Path) -> dict[str, Any]:
    """A micro model fine-tuned on 60 harvested artworks and registered; returns its training report."""
    sync_from_api(limit=60)
    return finetune(
        architecture="museum-micro",
        pretrained=clip_checkpoint,
        out_dir=tmp_path / "run",
        from_catalog=True,
        options=TrainOptions(epochs=2, batch_size=8, lr=1e-3),
        device="cpu",
        register_name="micro-tuned",
    )


def test_it_measures_the_whole_split_against_the_base_weights_and_writes_plots(
    tuned: dict[str, Any], tmp_path: Path
) -> None:
    output = io.StringIO()

    call_command("evaluate_retrieval", "--model", "micro-tuned", "--out", str(tmp_path / "eval"), stdout=output)

    written = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert written["split"] == "test" and written["pairs"] == tuned["n_test"]
    assert set(written["metrics"]) == RANK_KEYS
    # The same test split and images as training used: the same numbers, after and before (the base weights).
    assert written["metrics"] == pytest.approx(tuned["after"], abs=1e-6)
    assert written["baseline"]["metrics"] == pytest.approx(tuned["before"], abs=1e-6)
    assert set(written["in_batch"]) == {f"in_batch_{k}" for k in RANK_KEYS if "recall" in k} | {"batch_size"}
    assert [entry["epoch"] for entry in written["training"]["history"]] == [1, 2]
    for plot in ("recall.png", "loss.png"):
        assert (tmp_path / "eval" / plot).read_bytes().startswith(b"\x89PNG")
    printed = {line.split()[0]: line.split()[1:] for line in output.getvalue().splitlines() if line.strip()}
    assert printed["t2i_recall@5"] == [
        f"{tuned['before']['t2i_recall@5']:.3f}",
        f"{tuned['after']['t2i_recall@5']:.3f}",
    ]

    stored = EvaluationReport.objects.filter(model__name="micro-tuned", source="catalog").get()
    assert stored.metrics == written["metrics"]
    assert bytes(stored.recall_plot or b"").startswith(b"\x89PNG")
    assert bytes(stored.loss_plot or b"").startswith(b"\x89PNG")


def test_the_models_admin_page_shows_its_reports_and_plots(tuned: dict[str, Any], admin_client: Client) -> None:
    call_command("evaluate_retrieval", "--model", "micro-tuned", "--split", "val", stdout=io.StringIO())
    model = EmbeddingModel.objects.get(name="micro-tuned")

    page = admin_client.get(f"/admin/embeddings/embeddingmodel/{model.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('src="data:image/png;base64,') >= 3  # training run: recall + loss; evaluation: recall + loss
    assert "t2i_median_rank" in html and "catalog (training run)" in html
    listing = admin_client.get("/admin/embeddings/embeddingmodel/").content.decode()
    assert f"{tuned['after']['t2i_recall@5']:.3f}" in listing  # test recall@5 column


def test_it_refuses_a_split_too_small_to_measure(aic: Any, embedding_model: Any) -> None:
    sync_from_api(limit=2)

    with pytest.raises(CommandError, match="usable pairs"):
        call_command("evaluate_retrieval", "--model", embedding_model.name, stdout=io.StringIO())
