"""Contrastive training of an open_clip model on in-memory image-caption pairs.

No Django here: the catalog-facing service (``training.finetune``) and the procedural benchmark
(``bench.finetune``) both drive this same loop. It uses open_clip's ClipLoss; AdamW with linear warmup
then cosine decay; gradient accumulation that keeps every accumulated pair in one contrastive batch;
mixed precision on CUDA; LiT-style locking of either tower; and early stopping on validation recall,
which restores the best epoch's weights.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch
from PIL import Image

from training.options import Example, TrainingError, TrainingProgress, TrainOptions

logger = logging.getLogger(__name__)

MAX_LOGIT_SCALE = math.log(100)  # open_clip's training clamps the temperature here too
MONITOR = "val_mean_recall"


@dataclass
class TrainingResult:
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False


Evaluate = Callable[[], dict[str, float]]


def train(
    model: Any,
    examples: Sequence[Example],
    *,
    preprocess: Callable[[Image.Image], torch.Tensor],
    tokenizer: Callable[[list[str]], torch.Tensor],
    device: torch.device,
    options: TrainOptions,
    evaluate: Evaluate | None = None,
    on_progress: Callable[[TrainingProgress], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainingResult:
    """Train ``model`` in place; one history entry per epoch (train loss, learning rate, validation metrics).

    ``evaluate`` gives validation metrics (keys like ``t2i_recall@5``); it is called after every epoch
    and, for early stopping, once before the first. Their mean recall is the early-stopping monitor.
    """
    options.check()
    if options.lr is None:
        raise TrainingError("no learning rate given")
    if options.patience and evaluate is None:
        raise TrainingError("early stopping needs validation data")
    say = log or logger.info
    lock_towers(model, options)
    parameter_groups = parameter_groups_for(model, options.weight_decay)
    if not any(group["params"] for group in parameter_groups):
        raise TrainingError("every parameter is locked: nothing to train")

    tokens = tokenizer([example.caption for example in examples])
    pairs = _Pairs(examples, tokens, preprocess)
    order = torch.Generator().manual_seed(options.seed)
    total_steps = max(1, options.epochs * steps_per_epoch(len(examples), options))
    optimizer = torch.optim.AdamW(parameter_groups, lr=options.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total_steps, options.warmup_fraction))
    autocast, scaler = mixed_precision(device, options.amp)
    loss_fn = open_clip.ClipLoss()

    result = TrainingResult()
    best_score = -math.inf
    best_state: dict[str, torch.Tensor] | None = None
    if options.patience and evaluate is not None:
        # The starting weights compete too: training that only makes things worse keeps none of it.
        best_score = mean_recall(evaluate())
        best_state, result.best_epoch = _snapshot(model), 0
    started = time.monotonic()
    step = 0
    stale_epochs = 0
    for epoch in range(1, options.epochs + 1):
        model.train()
        steps = _step_batches(len(examples), options, order)
        loader = _loader(pairs, [micro for batch in steps for micro in batch], options, device, epoch)
        micro_batches = iter(loader)
        losses: list[float] = []
        for batch in steps:
            inputs = [next(micro_batches) for _ in batch]
            loss = optimizer_step(model, inputs, device, loss_fn, optimizer, scaler, autocast)
            scheduler.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
            losses.append(loss)
            step += 1
            if on_progress is not None:
                elapsed = time.monotonic() - started
                on_progress(
                    TrainingProgress(
                        epoch=epoch,
                        epochs=options.epochs,
                        step=step,
                        total_steps=total_steps,
                        loss=sum(losses) / len(losses),
                        elapsed_seconds=elapsed,
                        eta_seconds=elapsed / step * (total_steps - step),
                    )
                )
        entry: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": sum(losses) / len(losses) if losses else 0.0,
            "lr": scheduler.get_last_lr()[0],
        }
        if evaluate is not None:
            metrics = evaluate()
            entry.update({f"val_{name}": value for name, value in metrics.items()})
            entry[MONITOR] = mean_recall(metrics)
            if entry[MONITOR] > best_score:
                best_score, result.best_epoch, stale_epochs = entry[MONITOR], epoch, 0
                if options.patience:
                    best_state = _snapshot(model)
            else:
                stale_epochs += 1
        result.history.append(entry)
        say(
            f"epoch {epoch}/{options.epochs} ({time.monotonic() - started:.0f} s): "
            + ", ".join(f"{key} {value:.4g}" for key, value in entry.items() if key != "epoch")
        )
        if options.patience and stale_epochs >= options.patience and epoch < options.epochs:
            result.stopped_early = True
            say(f"no better validation recall for {stale_epochs} epochs: stopping early")
            break
    if best_state is not None:
        model.load_state_dict(best_state)
        say(f"keeping the weights of epoch {result.best_epoch} ({MONITOR} {best_score:.4g})")
    model.eval()
    return result


def mean_recall(metrics: dict[str, float]) -> float:
    recalls = [value for name, value in metrics.items() if "_recall@" in name]
    return sum(recalls) / len(recalls) if recalls else 0.0


def lock_towers(model: Any, options: TrainOptions) -> None:
    """Freeze a tower as LiT does, leaving its last N groups or blocks trainable."""
    if options.lock_image:
        model.lock_image_tower(unlocked_groups=options.image_unlocked_groups)
    if options.lock_text:
        model.lock_text_tower(unlocked_layers=options.text_unlocked_layers)


def parameter_groups_for(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    """Decay weight matrices only; gains, biases and the temperature are left alone, as open_clip's trainer does."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        exempt = parameter.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
        (no_decay if exempt else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def warmup_cosine(total_steps: int, warmup_fraction: float) -> Callable[[int], float]:
    """Learning-rate factor: linear warmup over the first steps, then cosine decay to zero."""
    warmup = max(1, round(warmup_fraction * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def create_trainable_model(
    architecture: str, weights: str | None, device: torch.device, cache_dir: str | None = None
) -> tuple[Any, Any, Any]:
    """(model, train preprocess, eval preprocess) from open_clip; random initial weights when ``weights`` is None."""
    model, preprocess_train, preprocess_eval = open_clip.create_model_and_transforms(
        architecture, pretrained=weights, device=device, cache_dir=cache_dir, output_dict=True
    )
    return model, preprocess_train, preprocess_eval


def save_checkpoint(model: Any, path: Path, **metadata: Any) -> None:
    """A dict with "state_dict" (CPU tensors), as open_clip's load_checkpoint expects, plus plain metadata."""
    state_dict = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    tmp = partial_path(path)
    try:
        torch.save({"state_dict": state_dict, **metadata}, tmp)
        os.replace(tmp, path)  # never leave a half-written checkpoint under the real name
    finally:
        tmp.unlink(missing_ok=True)


def partial_path(path: Path) -> Path:
    # Not mkstemp: its files are private (0600), and the web and worker processes must read the checkpoint.
    return path.with_name(f".{path.name}.{os.getpid()}.part")


def eval_tensors(
    examples: Sequence[Example],
    preprocess: Callable[[Image.Image], torch.Tensor],
    tokenizer: Callable[[list[str]], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, tokens) of ``examples`` in order, preprocessed for evaluation."""
    images = torch.stack([preprocess(example.image) for example in examples])
    return images, tokenizer([example.caption for example in examples])


class _Pairs(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor]]):
    def __init__(
        self, examples: Sequence[Example], tokens: torch.Tensor, preprocess: Callable[[Image.Image], torch.Tensor]
    ) -> None:
        self.examples = examples
        self.tokens = tokens
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.preprocess(self.examples[index].image), self.tokens[index]


def steps_per_epoch(count: int, options: TrainOptions) -> int:
    per_step = options.batch_size * options.accumulation_steps
    return count // per_step + (1 if count % per_step >= 2 else 0)


def _step_batches(count: int, options: TrainOptions, generator: torch.Generator) -> list[list[list[int]]]:
    """One epoch's optimizer steps, each a list of micro-batches of shuffled indices.

    A last step of a single pair is dropped: it has nothing to contrast with.
    """
    order = torch.randperm(count, generator=generator).tolist()
    per_step = options.batch_size * options.accumulation_steps
    steps: list[list[list[int]]] = []
    for start in range(0, count, per_step):
        chunk = order[start : start + per_step]
        if len(chunk) >= 2:
            steps.append([chunk[i : i + options.batch_size] for i in range(0, len(chunk), options.batch_size)])
    return steps


def _loader(
    pairs: _Pairs, micro_batches: list[list[int]], options: TrainOptions, device: torch.device, epoch: int
) -> torch.utils.data.DataLoader[tuple[torch.Tensor, torch.Tensor]]:
    return torch.utils.data.DataLoader(
        pairs,
        batch_sampler=micro_batches,
        num_workers=options.num_workers,
        pin_memory=device.type == "cuda",
        # Seeded per epoch, so that the workers' random crops repeat from run to run but not from epoch to epoch.
        generator=torch.Generator().manual_seed(options.seed * 100_003 + epoch),
    )


def mixed_precision(device: torch.device, amp: bool) -> tuple[Callable[[], AbstractContextManager[Any]], Any]:
    if not (amp and device.type == "cuda"):
        return nullcontext, torch.amp.GradScaler("cuda", enabled=False)
    # bfloat16 has float32's range, so it needs no loss scaling; float16 (older GPUs) does.
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return (lambda: torch.autocast("cuda", dtype=dtype)), torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)


def optimizer_step(
    model: Any,
    inputs: list[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    loss_fn: Any,
    optimizer: torch.optim.Optimizer,
    scaler: Any,
    autocast: Callable[[], AbstractContextManager[Any]],
) -> float:
    """One optimizer step over every micro-batch in ``inputs``; returns the loss of the whole batch.

    With several micro-batches, their features are first computed without gradients; then each
    micro-batch is recomputed with gradients and scored against all the others' cached features.
    The summed gradients are those of one contrastive batch holding every pair, at the memory cost
    of one micro-batch (open_clip's ``accum_freq``, except that the temperature's gradient is counted
    once rather than once per micro-batch).
    """
    optimizer.zero_grad(set_to_none=True)
    moved = [(images.to(device, non_blocking=True), texts.to(device, non_blocking=True)) for images, texts in inputs]
    if len(moved) == 1:
        images, texts = moved[0]
        with autocast():
            output = model(images, texts)
            loss = loss_fn(output["image_features"], output["text_features"], output["logit_scale"])
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return float(loss.detach())
    cached_images: list[torch.Tensor] = []
    cached_texts: list[torch.Tensor] = []
    with torch.no_grad(), autocast():
        for images, texts in moved:
            output = model(images, texts)
            cached_images.append(output["image_features"])
            cached_texts.append(output["text_features"])
    total = 0.0
    for index, (images, texts) in enumerate(moved):
        with autocast():
            output = model(images, texts)
            all_images = torch.cat([*cached_images[:index], output["image_features"], *cached_images[index + 1 :]])
            all_texts = torch.cat([*cached_texts[:index], output["text_features"], *cached_texts[index + 1 :]])
            # Every pass scores the whole batch, so the temperature's gradient is whole in each: count it once.
            scale = output["logit_scale"] if index == 0 else output["logit_scale"].detach()
            loss = loss_fn(all_images, all_texts, scale)
        scaler.scale(loss).backward()
        total = float(loss.detach())  # each recomputation scores the same full batch
    scaler.step(optimizer)
    scaler.update()
    return total


def _snapshot(model: Any) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict().items()}
