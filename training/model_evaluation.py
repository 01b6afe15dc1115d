"""Retrieval evaluation of registered models on the catalog, and the activation gate built on it.

A report covers one split of the visible artworks with an image (split by a hash of the AIC id, as
fine-tuning splits them, so a fine-tuned model's test split holds artworks it never trained on):
recall@1/5/10 and median rank in both directions over the whole split, the original project's
in-batch recall, a baseline (the weights it was fine-tuned from, or the active model), and the
training history when the checkpoint has a report beside it. It is stored as an EvaluationReport
with its plots, and written to a folder as report.json, recall.png and loss.png. A report on a
split the model did not train on ("test" or "val") also calibrates the model's match threshold
(training/evaluation.py ``match_threshold``), which search uses to fold weak semantic matches.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import open_clip
import torch
from django.conf import settings
from django.utils import timezone

from embeddings.encoders.clip import create_clip, register_model_configs, resolve_device
from embeddings.encoders.types import ModelLoadError
from embeddings.models import EmbeddingModel
from training.contrastive import eval_tensors, seed_everything
from training.datasets import MIN_EXAMPLES, DatasetError, examples_from_catalog, split_examples
from training.evaluation import IN_BATCH_SIZE, full_evaluation
from training.finetune import (
    LOSS_PLOT_NAME,
    RECALL_PLOT_NAME,
    REPORT_NAME,
    is_random_init,
    load_trainable_model,
    read_training_report,
    write_atomically,
)
from training.models import EvaluationReport
from training.options import Example
from training.plots import loss_curves_png, recall_png

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test", "all")
GATE_METRIC = "t2i_recall@5"
# The splits a fine-tuned model never trained on: a report on one of them calibrates its match threshold.
CALIBRATING_SPLITS = ("test", "val")

Log = Callable[[str], None]


@dataclass(frozen=True)
class CatalogPairs:
    split: str
    examples: list[Example]
    skipped: int
    caption_template: str | None


def catalog_pairs(
    split: str,
    *,
    caption_template: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    image_side: int | None = None,
) -> CatalogPairs:
    """The (image, caption) pairs of one split of the catalog, as fine-tuning splits it."""
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    dataset = examples_from_catalog(caption_template, image_side=image_side)
    if split == "all":
        examples = dataset.examples
    else:
        parts = split_examples(dataset.examples, val_fraction=val_fraction, test_fraction=test_fraction)
        examples = {"train": parts.train, "val": parts.val, "test": parts.test}[split]
    # Keys in one fixed order, so the in-batch measure sees the same batches on every run.
    examples = sorted(examples, key=lambda example: example.key)
    return CatalogPairs(split, examples, len(dataset.skipped), caption_template)


def evaluate_model(
    model: EmbeddingModel,
    pairs: CatalogPairs,
    *,
    baseline: str = "auto",
    device: str = "cpu",
    in_batch_size: int = IN_BATCH_SIZE,
    out_dir: Path | None = None,
    progress: Log | None = None,
) -> EvaluationReport:
    """Measure ``model`` on ``pairs``, store the report (and write its files to ``out_dir``).

    ``baseline`` is "auto" (the weights the model was fine-tuned from, else the active model), "none",
    or the name of another registered model. Raises DatasetError when the split has too few pairs and
    ModelLoadError when weights cannot be loaded.
    """
    say = progress or logger.info
    if len(pairs.examples) < MIN_EXAMPLES:
        raise DatasetError(
            f"the {pairs.split} split has {len(pairs.examples)} usable pairs; at least {MIN_EXAMPLES} are needed"
        )
    torch_device = resolve_device(device)
    training = read_training_report(model.pretrained)
    say(f"evaluating {model.name} on {len(pairs.examples)} {pairs.split} pairs")
    measured = measure_registered(model, pairs.examples, torch_device, in_batch_size)
    baseline_name, baseline_measured = _baseline(model, baseline, training, pairs.examples, torch_device, in_batch_size)
    report: dict[str, Any] = {
        "model": model.name,
        "architecture": model.architecture,
        "pretrained": model.pretrained,
        "dimension": model.dimension,
        "split": pairs.split,
        "source": "catalog",
        "caption_template": pairs.caption_template,
        "pairs": len(pairs.examples),
        "skipped": pairs.skipped,
        "metrics": measured["whole_split"],
        "in_batch": {**measured["in_batch"], "batch_size": in_batch_size},
        "calibration": measured["calibration"],
        "baseline": None
        if baseline_measured is None
        else {
            "name": baseline_name,
            "metrics": baseline_measured["whole_split"],
            "in_batch": baseline_measured["in_batch"],
        },
        "training": None
        if training is None
        else {key: training.get(key) for key in ("history", "best_epoch", "stopped_early", "options", "source")},
        "created_at": timezone.now().isoformat(),
    }
    history = (training or {}).get("history") or []
    loss_plot = loss_curves_png(history) if history else None
    series = {model.name: measured["whole_split"]}
    if baseline_measured is not None:
        series = {
            f"before: {baseline_name}": baseline_measured["whole_split"],
            f"after: {model.name}": series[model.name],
        }
    recall_plot = recall_png(series, f"Recall@k, whole {pairs.split} split ({len(pairs.examples)} pairs)")
    stored = EvaluationReport.objects.create(
        model=model,
        split=pairs.split,
        source="catalog",
        caption_template=pairs.caption_template or "",
        pairs=len(pairs.examples),
        metrics=measured["whole_split"],
        in_batch=report["in_batch"],
        baseline_name=baseline_name if baseline_measured is not None else "",
        baseline_metrics=baseline_measured["whole_split"] if baseline_measured is not None else None,
        report=report,
        loss_plot=loss_plot,
        recall_plot=recall_plot,
    )
    if pairs.split in CALIBRATING_SPLITS:
        model.match_threshold = measured["calibration"]["match_threshold"]
        EmbeddingModel.objects.filter(pk=model.pk).update(match_threshold=model.match_threshold)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(out_dir / REPORT_NAME, json.dumps(report, indent=2).encode("utf-8"))
        write_atomically(out_dir / RECALL_PLOT_NAME, recall_plot)
        if loss_plot is not None:
            write_atomically(out_dir / LOSS_PLOT_NAME, loss_plot)
    return stored


def measure_registered(
    model: EmbeddingModel, examples: Sequence[Example], device: torch.device, in_batch_size: int = IN_BATCH_SIZE
) -> dict[str, dict[str, float]]:
    clip, preprocess = create_clip(model, device)
    return _measure(clip, preprocess, model.architecture, examples, device, in_batch_size)


def recall_gate(candidate: EmbeddingModel, active: EmbeddingModel, log: Log | None = None) -> str | None:
    """Refuse ``candidate`` when its test t2i recall@5 is below the active model's on the same pairs."""
    say = log or logger.info
    # Images kept at twice the input size, as fine-tuning keeps them, so its test numbers compare.
    pairs = catalog_pairs("test", image_side=2 * max(config_image_side(candidate), config_image_side(active)))
    if len(pairs.examples) < MIN_EXAMPLES:
        say(f"evaluation gate: only {len(pairs.examples)} test pairs in the catalog, nothing to compare")
        return None
    scores = {}
    for model in (candidate, active):
        report = evaluate_model(model, pairs, baseline="none", progress=say)
        scores[model.pk] = report.metrics[GATE_METRIC]
    say(
        f"evaluation gate: test {GATE_METRIC} {candidate.name} {scores[candidate.pk]:.3f}, "
        f"active {active.name} {scores[active.pk]:.3f} ({len(pairs.examples)} pairs)"
    )
    if scores[candidate.pk] < scores[active.pk]:
        return (
            f"test {GATE_METRIC} of {candidate.name} is {scores[candidate.pk]:.3f}, below the active "
            f"{active.name}'s {scores[active.pk]:.3f} on the same {len(pairs.examples)} pairs; force it to activate anyway"
        )
    return None


def config_image_side(model: EmbeddingModel) -> int:
    """The input size of the model's architecture (open_clip config), without loading weights."""
    register_model_configs()
    config = open_clip.get_model_config(model.architecture)
    if config is None:
        raise ModelLoadError(f"unknown architecture {model.architecture!r}")
    size = config.get("vision_cfg", {}).get("image_size", 224)
    return int(max(size) if isinstance(size, (list, tuple)) else size)


def default_report_dir(model: EmbeddingModel, split: str) -> Path:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return Path(settings.TRAINING_DIR) / "reports" / f"{model.name}-{split}-{stamp}"


def _baseline(
    model: EmbeddingModel,
    baseline: str,
    training: dict[str, Any] | None,
    examples: Sequence[Example],
    device: torch.device,
    in_batch_size: int,
) -> tuple[str, dict[str, dict[str, float]] | None]:
    if baseline == "none":
        return "", None
    if baseline != "auto":
        other = EmbeddingModel.objects.filter(name=baseline).first()
        if other is None:
            known = ", ".join(EmbeddingModel.objects.values_list("name", flat=True))
            raise ModelLoadError(f"no model named {baseline!r} to compare with (known: {known})")
        return other.name, measure_registered(other, examples, device, in_batch_size)
    if training is not None and training.get("architecture") == model.architecture:
        # The weights it was fine-tuned from; random ones are re-created from the run's seed.
        pretrained = str(training.get("pretrained", "none"))
        seed_everything(int((training.get("options") or {}).get("seed", 0)))
        clip, _, preprocess = load_trainable_model(model.architecture, pretrained, device)
        label = f"{model.architecture} {'random init' if is_random_init(pretrained) else pretrained}"
        return label, _measure(clip, preprocess, model.architecture, examples, device, in_batch_size)
    active = EmbeddingModel.active()
    if active is not None and active.pk != model.pk:
        return f"{active.name} (active)", measure_registered(active, examples, device, in_batch_size)
    return "", None


def _measure(
    clip: Any,
    preprocess: Any,
    architecture: str,
    examples: Sequence[Example],
    device: torch.device,
    in_batch_size: int,
) -> dict[str, dict[str, float]]:
    images, tokens = eval_tensors(examples, preprocess, open_clip.get_tokenizer(architecture))
    return full_evaluation(clip, images, tokens, device, in_batch_size)
