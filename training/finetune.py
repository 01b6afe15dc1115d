"""Contrastive fine-tuning of an open_clip model on image-caption pairs, measured before and after.

The service writes ``checkpoint.pt`` (open_clip loads it as ``pretrained=<path>``) and ``report.json``
into the output folder and returns the report. Runs are seeded: the same inputs and seed give the
same report on CPU.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch
from django.conf import settings

from embeddings.clip import ModelLoadError, register_model_configs, resolve_device
from embeddings.registry import register_model
from training.datasets import (
    MIN_EXAMPLES,
    Dataset,
    DatasetError,
    Example,
    check_caption_template,
    check_fractions,
    examples_from_catalog,
    examples_from_csv,
    skipped_summary,
    split_examples,
)
from training.evaluation import retrieval_metrics

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
REPORT_NAME = "report.json"
DEFAULT_LR_PRETRAINED = 1e-4
# From random weights a tiny model needs a larger step to learn anything in a few epochs.
DEFAULT_LR_FROM_SCRATCH = 5e-4
WARMUP_FRACTION = 0.1
_MAX_LOGIT_SCALE = math.log(100)  # open_clip's training clamps the temperature here too
_CHECKPOINT_SUFFIXES = {".pt", ".pth", ".bin", ".safetensors", ".npz"}

Progress = Callable[[str], None]


def finetune(
    *,
    architecture: str,
    pretrained: str,
    out_dir: Path,
    csv_path: Path | None = None,
    from_catalog: bool = False,
    caption_template: str | None = None,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float | None = None,
    weight_decay: float = 0.1,
    seed: int = 0,
    device: str = "auto",
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    register_name: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Fine-tune ``architecture`` from ``pretrained`` (tag, checkpoint path or "none") and return the report.

    Pairs come from ``csv_path`` (columns filepath,title) or, with ``from_catalog``, from the visible
    artworks with images. Recall@1/5/10 over the whole test split is measured before and after training.
    Raises DatasetError for unusable input and ModelLoadError for an unknown architecture or bad weights.
    """
    say = progress or logger.info
    if (csv_path is None) == (not from_catalog):
        raise DatasetError("give exactly one source: a CSV path or from_catalog")
    if epochs < 0 or batch_size < 2:
        raise DatasetError(f"need epochs >= 0 and batch size >= 2 (a contrastive batch), got {epochs}, {batch_size}")
    if lr is not None and lr <= 0:
        raise DatasetError(f"learning rate must be positive, got {lr}")
    check_fractions(val_fraction, test_fraction)
    # Cheap checks of the input come before the model is built and images are read.
    if csv_path is not None and not Path(csv_path).is_file():
        raise DatasetError(f"CSV file {csv_path} does not exist")
    if caption_template is not None:
        check_caption_template(caption_template)
    from_scratch = is_random_init(pretrained)
    learning_rate = lr if lr is not None else (DEFAULT_LR_FROM_SCRATCH if from_scratch else DEFAULT_LR_PRETRAINED)
    torch_device = resolve_device(device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)  # an unwritable folder fails now, not after training

    seed_everything(seed)
    model, preprocess_train, preprocess_val = load_trainable_model(architecture, pretrained, torch_device)
    tokenizer = open_clip.get_tokenizer(architecture)

    # Keep twice the model's input size: enough detail for the random crops, a fraction of the memory.
    image_side = 2 * max(_image_size(model))
    if from_catalog:
        dataset = examples_from_catalog(caption_template, image_side=image_side)
        source = "catalog"
    else:
        assert csv_path is not None
        dataset = examples_from_csv(Path(csv_path), image_side=image_side)
        source = str(csv_path)
    _check_enough(dataset)
    split = split_examples(dataset.examples, val_fraction=val_fraction, test_fraction=test_fraction)
    say(f"{len(split.train)} train, {len(split.val)} val, {len(split.test)} test pairs; {len(dataset.skipped)} skipped")

    test_images, test_tokens = _eval_tensors(split.test, preprocess_val, tokenizer)
    train_images, train_tokens = _eval_tensors(split.train, preprocess_val, tokenizer)
    val_images, val_tokens = _eval_tensors(split.val, preprocess_val, tokenizer)
    before = retrieval_metrics(model, test_images, test_tokens, torch_device)
    train_before = retrieval_metrics(model, train_images, train_tokens, torch_device)
    say(f"before: {_brief(before)}")

    def epoch_entry(epoch: int, train_loss: float) -> dict[str, Any]:
        val_metrics = retrieval_metrics(model, val_images, val_tokens, torch_device)
        return {"epoch": epoch, "train_loss": train_loss, **{f"val_{k}": v for k, v in val_metrics.items()}}

    history = train(
        model,
        split.train,
        preprocess_train=preprocess_train,
        tokenizer=tokenizer,
        device=torch_device,
        epochs=epochs,
        batch_size=batch_size,
        lr=learning_rate,
        weight_decay=weight_decay,
        seed=seed,
        on_epoch=epoch_entry,
        progress=say,
    )

    after = retrieval_metrics(model, test_images, test_tokens, torch_device)
    train_after = retrieval_metrics(model, train_images, train_tokens, torch_device)
    say(f"after: {_brief(after)}")

    checkpoint_path = out_dir / CHECKPOINT_NAME
    save_checkpoint(model, checkpoint_path, architecture=architecture, pretrained=pretrained, epochs=epochs, seed=seed)

    report: dict[str, Any] = {
        "before": before,
        "after": after,
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
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": learning_rate,
        "weight_decay": weight_decay,
        "seed": seed,
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
        "history": history,
        "checkpoint": CHECKPOINT_NAME,  # relative to the report, so two identical runs write identical reports
        "registered": None,
    }
    _write_atomically(out_dir / REPORT_NAME, json.dumps(report, indent=2).encode("utf-8"))
    if register_name:
        # The report is on disk first: a failed registration must not lose a finished run.
        register_model(
            register_name,
            architecture,
            str(checkpoint_path.resolve()),
            notes=f"fine-tuned from {pretrained} on {source}; test t2i_recall@5 "
            f"{before['t2i_recall@5']:.3f} -> {after['t2i_recall@5']:.3f}",
        )
        report["registered"] = register_name
        _write_atomically(out_dir / REPORT_NAME, json.dumps(report, indent=2).encode("utf-8"))
    return report


def train(
    model: Any,
    examples: Sequence[Example],
    *,
    preprocess_train: Callable[[Any], torch.Tensor],
    tokenizer: Callable[[list[str]], torch.Tensor],
    device: torch.device,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    on_epoch: Callable[[int, float], dict[str, Any]] | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """The plain loop: AdamW, warmup then cosine decay, open_clip's ClipLoss. Returns one entry per epoch."""
    say = progress or logger.info
    tokens = tokenizer([example.caption for example in examples])
    steps_per_epoch = len(examples) // batch_size + (1 if len(examples) % batch_size >= 2 else 0)
    total_steps = max(1, epochs * steps_per_epoch)
    optimizer = torch.optim.AdamW(_parameter_groups(model, weight_decay), lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(total_steps))
    loss_fn = open_clip.ClipLoss()
    order = torch.Generator().manual_seed(seed)
    history: list[dict[str, Any]] = []
    started = time.monotonic()
    model.train()
    for epoch in range(1, epochs + 1):
        losses: list[float] = []
        for batch in _batches(len(examples), batch_size, order):
            images = torch.stack([preprocess_train(examples[index].image) for index in batch]).to(device)
            output = model(images, tokens[batch].to(device))
            loss = loss_fn(output["image_features"], output["text_features"], output["logit_scale"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, _MAX_LOGIT_SCALE)
            losses.append(float(loss.detach()))
        mean_loss = sum(losses) / len(losses) if losses else 0.0
        entry = on_epoch(epoch, mean_loss) if on_epoch else {"epoch": epoch, "train_loss": mean_loss}
        history.append(entry)
        say(
            f"epoch {epoch}/{epochs} ({time.monotonic() - started:.0f} s): "
            + ", ".join(f"{key} {value:.4g}" for key, value in entry.items() if key != "epoch")
        )
    model.eval()
    return history


def load_trainable_model(architecture: str, pretrained: str, device: torch.device) -> tuple[Any, Any, Any]:
    """(model, train preprocess, val preprocess); random weights when ``pretrained`` is "none"."""
    register_model_configs()
    if architecture not in open_clip.list_models():
        raise ModelLoadError(f"unknown architecture {architecture!r}; known: {', '.join(open_clip.list_models())}")
    weights = None if is_random_init(pretrained) else pretrained.strip()
    if weights and _looks_like_path(weights) and not Path(weights).is_file():
        raise ModelLoadError(f"checkpoint {weights} does not exist")
    try:
        model, preprocess_train, preprocess_val = open_clip.create_model_and_transforms(
            architecture,
            pretrained=weights,
            device=device,
            cache_dir=str(settings.MODEL_CACHE_DIR),
            output_dict=True,
        )
    except Exception as exc:  # open_clip raises many kinds: download, hub, shape mismatch
        raise ModelLoadError(f"cannot load {architecture} weights {pretrained!r}: {exc}") from exc
    return model, preprocess_train, preprocess_val


def save_checkpoint(model: Any, path: Path, **metadata: Any) -> None:
    """A dict with "state_dict" (CPU tensors), as open_clip's load_checkpoint expects, plus plain metadata."""
    state_dict = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    tmp = _partial_path(path)
    try:
        torch.save({"state_dict": state_dict, **metadata}, tmp)
        os.replace(tmp, path)  # never leave a half-written checkpoint under the real name
    finally:
        tmp.unlink(missing_ok=True)


def is_random_init(pretrained: str) -> bool:
    return pretrained.strip().lower() in ("", "none")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _batches(count: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Shuffled index batches; a last batch of one is dropped (a single pair has nothing to contrast with)."""
    order = torch.randperm(count, generator=generator)
    for start in range(0, count, batch_size):
        batch = order[start : start + batch_size]
        if len(batch) >= 2:
            yield batch


def _parameter_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    """Decay weight matrices only; gains, biases and the temperature are left alone, as open_clip's trainer does."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        exempt = parameter.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
        (no_decay if exempt else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _warmup_cosine(total_steps: int) -> Callable[[int], float]:
    warmup = max(1, round(WARMUP_FRACTION * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _eval_tensors(
    examples: Sequence[Example],
    preprocess: Callable[[Any], torch.Tensor],
    tokenizer: Callable[[list[str]], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.stack([preprocess(example.image) for example in examples])
    return images, tokenizer([example.caption for example in examples])


def _image_size(model: Any) -> tuple[int, ...]:
    size = getattr(model.visual, "image_size", 224)
    return tuple(size) if isinstance(size, (tuple, list)) else (int(size),)


def _check_enough(dataset: Dataset) -> None:
    if len(dataset.examples) < MIN_EXAMPLES:
        raise DatasetError(
            f"need at least {MIN_EXAMPLES} usable image-caption pairs, found {len(dataset.examples)} "
            f"({len(dataset.skipped)} skipped)"
        )


def _looks_like_path(weights: str) -> bool:
    return "/" in weights or os.sep in weights or Path(weights).suffix in _CHECKPOINT_SUFFIXES


def _brief(metrics: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.3f}" for name, value in metrics.items())


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = _partial_path(path)
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _partial_path(path: Path) -> Path:
    # Not mkstemp: its files are private (0600), and the web and worker processes must read the checkpoint.
    return path.with_name(f".{path.name}.{os.getpid()}.part")
