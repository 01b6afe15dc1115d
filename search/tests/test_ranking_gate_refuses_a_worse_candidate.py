"""The ranking gate of an activation: just before the switch, the judged queries are ranked under the
candidate and the active model; a candidate whose hybrid nDCG@10 falls below the active one's by more
than SEARCH_GATE_MARGIN is refused and the active model stays, unless the activation is forced. Both
reports are stored, and the model list shows them. A candidate as good passes; an empty SEARCH_GATE_QUERIES, or a judged set whose
artworks are not in the catalog, lets it through.

The catalog is built so the active model ranks well: each artwork's vector is the text vector of the
query it answers. The candidate has the same weights (the same query vectors); the worse one has its
vectors shifted by one artwork."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from catalog.models import Artwork
from conftest import TEST_MODEL_ARCH
from embeddings.activation.fan_out import watch
from embeddings.activation.states import ActivationState
from embeddings.activation.status import activation_status, save_status
from embeddings.activation.steps import begin
from embeddings.encoders.registry import register_model
from embeddings.models import ArtworkEmbedding, EmbeddingModel
from search.models import SearchEvaluation
from search.query_cache import embed_query

pytestmark = pytest.mark.django_db(transaction=True)

# Words no title holds: the keyword list is empty, and hybrid ranks as the vectors do.
QUERIES = [
    "a red bird over snow",
    "boats drawn up on a beach",
    "three women in white dresses",
    "a horse beside a windmill",
    "lemons in a blue bowl",
    "a bridge under moonlight",
    "dancers behind a curtain",
    "an old man reading",
]
REFUSAL = (
    r"hybrid nDCG@10 0\.\d{3} is 0\.\d{3} below the active model's 1\.000 \(margin 0\.02\) "
    r"on 8 judged queries \(search evaluations \d+ and \d+\)"
)


@pytest.fixture
def judged(tmp_path: Path, settings: Any) -> Path:
    path = tmp_path / "judged.jsonl"
    path.write_text(
        "".join(
            json.dumps({"query": query, "kind": "visual", "relevant": {str(1001 + n): 3}}) + "\n"
            for n, query in enumerate(QUERIES)
        )
    )
    settings.SEARCH_GATE_QUERIES = str(path)
    settings.SEARCH_GATE_MARGIN = 0.02
    return path


@pytest.fixture
def answers(aic: Any, embedding_model: EmbeddingModel) -> list[tuple[Artwork, np.ndarray]]:
    """An artwork per query, whose vector under the active model is that query's text vector (images
    from the fake AIC server, which has none of theirs: the caption gate finds no pairs to compare)."""
    built = []
    for n, query in enumerate(QUERIES):
        artwork = Artwork.objects.create(aic_id=1001 + n, title=f"Study {n}", image_id=f"img{n}", content_hash="x")
        vector = embed_query(embedding_model, query)
        ArtworkEmbedding.objects.create(
            artwork=artwork, model=embedding_model, image_id=artwork.image_id, vector=vector
        )
        built.append((artwork, vector))
    return built


def candidate_with(answers: list[tuple[Artwork, np.ndarray]], clip_checkpoint: str, shift: int) -> EmbeddingModel:
    """A candidate of the active model's weights, its vectors those of the active model ``shift``
    artworks on (0: the very same)."""
    candidate = register_model("candidate", TEST_MODEL_ARCH, clip_checkpoint)
    for n, (artwork, _) in enumerate(answers):
        vector = answers[(n + shift) % len(answers)][1]
        ArtworkEmbedding.objects.create(artwork=artwork, model=candidate, image_id=artwork.image_id, vector=vector)
    return candidate


def test_a_worse_candidate_is_refused_and_switches_when_forced(
    judged: Path, answers: list[Any], embedding_model: EmbeddingModel, clip_checkpoint: str
) -> None:
    candidate = candidate_with(answers, clip_checkpoint, shift=1)

    with pytest.raises(CommandError, match=REFUSAL):
        call_command("activate_model", "candidate", stdout=io.StringIO())

    assert EmbeddingModel.active() == embedding_model
    status = activation_status(candidate)
    assert status is not None and status.state == ActivationState.REFUSED
    assert "force the activation" in status.message
    # Both reports are stored: the active model ranks every answer first, the candidate does not.
    reports = {report.model_name: report for report in SearchEvaluation.objects.all()}
    assert set(reports) == {"micro", "candidate"}
    assert all(set(report.modes) == {"hybrid", "semantic"} and report.queries == 8 for report in reports.values())
    assert reports["micro"].figure("hybrid", "ndcg@10") == 1.0
    candidate_ndcg = reports["candidate"].figure("hybrid", "ndcg@10")
    assert candidate_ndcg is not None and candidate_ndcg < 0.98
    assert f"hybrid nDCG@10 {candidate_ndcg:.3f} " in status.message
    # Its vectors are kept: a forced activation switches without embedding again, and skips the gate.
    assert ArtworkEmbedding.objects.filter(model=candidate).count() == len(answers)

    output = io.StringIO()
    call_command("activate_model", "candidate", "--force", stdout=output)

    assert EmbeddingModel.active() == candidate
    forced = activation_status(candidate)
    assert forced is not None and forced.state == ActivationState.ACTIVE and forced.to_embed == 0
    assert SearchEvaluation.objects.count() == 2


def test_the_watcher_on_the_embed_queue_refuses_it_too(
    judged: Path, answers: list[Any], embedding_model: EmbeddingModel, clip_checkpoint: str
) -> None:
    candidate = candidate_with(answers, clip_checkpoint, shift=3)
    status = begin(candidate, force=False)
    # Past the first gate, every batch queued and embedded: the next watcher step would switch.
    status.state, status.watch_token, status.embedding_since = ActivationState.EMBEDDING, "step", time.time() - 60
    status.queued_through = answers[-1][0].pk
    save_status(status)

    watched = watch(candidate, "step", prune=False, send_next=lambda token, countdown: None)

    assert watched is not None and watched.state == ActivationState.REFUSED
    recorded = activation_status(candidate)
    assert recorded is not None and recorded.state == ActivationState.REFUSED
    assert "below the active model's 1.000" in recorded.message
    assert EmbeddingModel.active() == embedding_model


def test_a_candidate_as_good_passes(
    judged: Path, answers: list[Any], embedding_model: EmbeddingModel, clip_checkpoint: str, admin_client: Client
) -> None:
    candidate = candidate_with(answers, clip_checkpoint, shift=0)

    output = io.StringIO()
    call_command("activate_model", "candidate", stdout=output)

    assert EmbeddingModel.active() == candidate
    assert "ranking gate passed: hybrid nDCG@10 1.000, the active model's 1.000 (margin 0.02)" in output.getvalue()
    assert sorted(SearchEvaluation.objects.values_list("model_name", flat=True)) == ["candidate", "micro"]
    # The model list shows each model's figure beside its test recall.
    listing = admin_client.get("/admin/embeddings/embeddingmodel/").content.decode()
    assert "Judged hybrid nDCG@10" in listing
    assert listing.count('<td class="field-judged_hybrid_ndcg">1.000</td>') == 2


def test_an_empty_judged_set_setting_turns_the_gate_off(
    judged: Path, answers: list[Any], embedding_model: EmbeddingModel, clip_checkpoint: str, settings: Any
) -> None:
    settings.SEARCH_GATE_QUERIES = ""
    candidate = candidate_with(answers, clip_checkpoint, shift=1)

    call_command("activate_model", "candidate", stdout=io.StringIO())

    assert EmbeddingModel.active() == candidate
    assert not SearchEvaluation.objects.exists()


def test_a_judged_set_of_another_collection_lets_it_through_with_a_note(
    judged: Path, answers: list[Any], embedding_model: EmbeddingModel, clip_checkpoint: str
) -> None:
    lines = judged.read_text().splitlines()
    # Only two of eight queries still have their relevant artwork in this catalog.
    judged.write_text("\n".join(lines[:2] + [line.replace('"10', '"90') for line in lines[2:]]) + "\n")
    candidate = candidate_with(answers, clip_checkpoint, shift=1)

    output = io.StringIO()
    call_command("activate_model", "candidate", stdout=output)

    assert EmbeddingModel.active() == candidate
    assert "ranking gate not applied: only 2 of 8 judged queries have a relevant artwork" in output.getvalue()
    assert not SearchEvaluation.objects.exists()
