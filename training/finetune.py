"""Contrastive fine-tuning of an open_clip model on image-caption pairs, measured before and after.

The service writes ``checkpoint.pt`` (open_clip loads it as ``pretrained=<path>``), ``report.json`` and
two plots (``loss.png``, ``recall.png``) into the output folder and returns the report. A model it
registers names its checkpoint in the artifact store (``training.storage``), so every host loads it. Runs are seeded:
the same inputs and seed give the same report on CPU.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import open_clip
import torch
from django.conf import settings

from core.artifacts import is_reference
from embeddings.encoders.clip import local_weights, register_model_configs, resolve_device
from embeddings.encoders.registry import register_model
from embeddings.encoders.types import ModelLoadError
from embeddings.models import EmbeddingModel
from training.contrastive import (
    create_trainable_model,
    eval_tensors,
    partial_path,
    save_checkpoint,
    seed_everything,
    train,
)
from training.datasets import (
    MIN_EXAMPLES,
    Dataset,
    DatasetError,
    check_caption_template,
    check_fractions,
    examples_from_catalog,
    examples_from_csv,
    skipped_summary,
    split_examples,
)
from training.evaluation import full_evaluation, retrieval_metrics
from training.models import EvaluationReport
from training.options import TrainingProgress, TrainOptions
from training.paths import looks_like_path
from training.plots import loss_curves_png, recall_png
from training.storage import publish_checkpoint

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
REPORT_NAME = "report.json"
LOSS_PLOT_NAME = "loss.png"
RECALL_PLOT_NAME = "recall.png"
TRAINING_RUN = " (training run)"  # ends the source of the evaluation a run stores with its model
DEFAULT_LR_PRETRAINED = 1e-4
# From random weights a tiny model needs a larger step to learn anything in a few epochs.
DEFAULT_LR_FROM_SCRATCH = 5e-4

Log = Callable[[str], None]


def finetune(
    *,
    architecture: str,
    pretrained: str,
    out_dir: Path,
    csv_path: Path | None = None,
    from_catalog: bool = False,
    caption_template: str | None = None,
    options: TrainOptions | None = None,
    device: str = "auto",
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    register_name: str | None = None,
    images_under: Path | None = None,
    progress: Log | None = None,
    on_progress: Callable[[TrainingProgress], None] | None = None,
) -> dict[str, Any]:
    """Fine-tune ``architecture`` from ``pretrained`` (tag, checkpoint path or "none") and return the report.

    Pairs come from ``csv_path`` (columns filepath,title) or, with ``from_catalog``, from the visible
    artworks with images, split by a hash of their id. Recall@1/5/10 and the median rank over the whole
    test split are measured before and after training. ``options.lr`` left at None picks a default for
    pretrained weights or for random ones. Raises DatasetError for unusable input, TrainingError for
    unusable options and ModelLoadError for an unknown architecture or bad weights. With ``images_under``
    (a resolved folder), CSV rows whose image lies outside it are skipped (jobs pass TRAINING_DIR).
    """
    say = progress or logger.info
    options = options or TrainOptions()
    if (csv_path is None) == (not from_catalog):
        raise DatasetError("give exactly one source: a CSV path or from_catalog")
    from_scratch = is_random_init(pretrained)
    if options.lr is None:
        options = dataclasses.replace(options, lr=DEFAULT_LR_FROM_SCRATCH if from_scratch else DEFAULT_LR_PRETRAINED)
    options.check()
    check_fractions(val_fraction, test_fraction)
    # Cheap checks of the input come before the model is built and images are read.
    if csv_path is not None and not Path(csv_path).is_file():
        raise DatasetError(f"CSV file {csv_path} does not exist")
    if caption_template is not None:
        check_caption_template(caption_template)
    torch_device = resolve_device(device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)  # an unwritable folder fails now, not after training

    seed_everything(options.seed)
    model, preprocess_train, preprocess_val = load_trainable_model(architecture, pretrained, torch_device)
    tokenizer = open_clip.get_tokenizer(architecture)

    # Keep twice the model's input size: enough detail for the random crops, a fraction of the memory.
    image_side = 2 * max(image_size(model))
    if from_catalog:
        dataset = examples_from_catalog(caption_template, image_side=image_side)
        source = "catalog"
    else:
        assert csv_path is not None
        dataset = examples_from_csv(Path(csv_path), image_side=image_side, images_under=images_under)
        source = str(csv_path)
    _check_enough(dataset)
    split = split_examples(dataset.examples, val_fraction=val_fraction, test_fraction=test_fraction)
    say(f"{len(split.train)} train, {len(split.val)} val, {len(split.test)} test pairs; {len(dataset.skipped)} skipped")

    test_images, test_tokens = eval_tensors(split.test, preprocess_val, tokenizer)
    train_images, train_tokens = eval_tensors(split.train, preprocess_val, tokenizer)
    val_images, val_tokens = eval_tensors(split.val, preprocess_val, tokenizer)
    before = full_evaluation(model, test_images, test_tokens, torch_device)
    train_before = retrieval_metrics(model, train_images, train_tokens, torch_device)
    say(f"before: {_brief(before['whole_split'])}")

    result = train(
        model,
        split.train,
        preprocess=preprocess_train,
        tokenizer=tokenizer,
        device=torch_device,
        options=options,
        evaluate=lambda: retrieval_metrics(model, val_images, val_tokens, torch_device),
        on_progress=on_progress,
        log=say,
    )

    after = full_evaluation(model, test_images, test_tokens, torch_device)
    train_after = retrieval_metrics(model, train_images, train_tokens, torch_device)
    say(f"after: {_brief(after['whole_split'])}")

    checkpoint_path = out_dir / CHECKPOINT_NAME
    save_checkpoint(model, checkpoint_path, architecture=architecture, pretrained=pretrained, options=options.as_dict())

    report: dict[str, Any] = {
        "before": before["whole_split"],
        "after": after["whole_split"],
        "in_batch": {"before": before["in_batch"], "after": after["in_batch"]},
        # The match threshold search uses to call a semantic match weak, from the test split.
        "calibration": after["calibration"],
        # The test split is small; recall on the pairs it trained on shows whether training did anything.
        "train_split": {"before": train_before, "after": train_after},
        "n_train": len(split.train),
        "n_val": len(split.val),
        "n_test": len(split.test),
        "skipped": len(dataset.skipped),
        "skipped_items": skipped_summary(dataset.skipped),
        "architecture": architecture,
        "pretrained": pretrained,
        "source": source,
        "caption_template": caption_template,
        "options": options.as_dict(),
        "epochs": options.epochs,
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
        "history": result.history,
        "checkpoint": CHECKPOINT_NAME,  # relative to the report, so two identical runs write identical reports
        "registered": None,
    }
    loss_plot = loss_curves_png(result.history) if result.history else None
    recall_plot = recall_png({"before": report["before"], "after": report["after"]}, "Recall@k, test split")
    if loss_plot is not None:
        write_atomically(out_dir / LOSS_PLOT_NAME, loss_plot)
    write_atomically(out_dir / RECALL_PLOT_NAME, recall_plot)
    write_atomically(out_dir / REPORT_NAME, json.dumps(report, indent=2).encode("utf-8"))
    if register_name:
        # The report is on disk first: a failed registration must not lose a finished run.
        registered = register_model(
            register_name,
            architecture,
            publish_checkpoint(checkpoint_path),
            notes=f"fine-tuned from {pretrained} on {source}; test t2i_recall@5 "
            f"{report['before']['t2i_recall@5']:.3f} -> {report['after']['t2i_recall@5']:.3f}",
        )
        registered.match_threshold = after["calibration"]["match_threshold"]
        EmbeddingModel.objects.filter(pk=registered.pk).update(match_threshold=registered.match_threshold)
        _store_training_evaluation(registered, report, loss_plot, recall_plot)
        report["registered"] = register_name
        write_atomically(out_dir / REPORT_NAME, json.dumps(report, indent=2).encode("utf-8"))
    return report


def load_trainable_model(architecture: str, pretrained: str, device: torch.device) -> tuple[Any, Any, Any]:
    """(model, train preprocess, val preprocess); random weights when ``pretrained`` is "none"."""
    register_model_configs()
    if architecture not in open_clip.list_models():
        raise ModelLoadError(f"unknown architecture {architecture!r}; known: {', '.join(open_clip.list_models())}")
    weights = None if is_random_init(pretrained) else local_weights(pretrained)
    if weights and looks_like_path(weights) and not Path(weights).is_file():
        raise ModelLoadError(f"checkpoint {weights} does not exist")
    try:
        return create_trainable_model(architecture, weights, device, cache_dir=str(settings.MODEL_CACHE_DIR))
    except Exception as exc:  # open_clip raises many kinds: download, hub, shape mismatch
        raise ModelLoadError(f"cannot load {architecture} weights {pretrained!r}: {exc}") from exc


def read_training_report(checkpoint: str) -> dict[str, Any] | None:
    """The report of the run that wrote a fine-tuned checkpoint, if there is one: kept with the model
    it registered (a stored checkpoint, on any host), or the report.json beside a checkpoint path."""
    if is_reference(checkpoint):
        stored = (
            EvaluationReport.objects.filter(model__pretrained=checkpoint.strip(), source__endswith=TRAINING_RUN)
            .values_list("report", flat=True)
            .first()
        )
        return stored if isinstance(stored, dict) else None
    path = Path(checkpoint).with_name(REPORT_NAME) if checkpoint else None
    if path is None or not looks_like_path(checkpoint) or not path.is_file():
        return None
    try:
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report


def is_random_init(pretrained: str) -> bool:
    return pretrained.strip().lower() in ("", "none")


def image_size(model: Any) -> tuple[int, ...]:
    size = getattr(model.visual, "image_size", 224)
    return tuple(size) if isinstance(size, (tuple, list)) else (int(size),)


def write_atomically(path: Path, data: bytes) -> None:
    tmp = partial_path(path)
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _store_training_evaluation(
    model: EmbeddingModel, report: dict[str, Any], loss_plot: bytes | None, recall_plot: bytes
) -> None:
    EvaluationReport.objects.create(
        model=model,
        split="test",
        source=f"{report['source']}{TRAINING_RUN}",
        caption_template=report["caption_template"] or "",
        pairs=report["n_test"],
        metrics=report["after"],
        in_batch=report["in_batch"]["after"],
        baseline_name=f"{report['architecture']} {report['pretrained']} (before fine-tuning)",
        baseline_metrics=report["before"],
        report=report,
        loss_plot=loss_plot,
        recall_plot=recall_plot,
    )


def _check_enough(dataset: Dataset) -> None:
    if len(dataset.examples) < MIN_EXAMPLES:
        raise DatasetError(
            f"need at least {MIN_EXAMPLES} usable image-caption pairs, found {len(dataset.examples)} "
            f"({len(dataset.skipped)} skipped)"
        )


def _brief(metrics: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.3f}" for name, value in metrics.items())
