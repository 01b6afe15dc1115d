"""What a training run is given and reports, without PyTorch: the admin and the web process check
options with these, the training loop (``training.contrastive``) runs them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from PIL import Image


class TrainingError(ValueError):
    """Options or inputs that cannot train (a batch of one, nothing left to train after locking, ...)."""


@dataclass(frozen=True)
class Example:
    """One image and its caption; ``key`` identifies it for the split (AIC id, CSV file path, ...)."""

    key: str
    caption: str
    image: Image.Image


@dataclass(frozen=True)
class TrainOptions:
    """How to train. ``batch_size`` is one forward pass; ``accumulation_steps`` of them make one optimizer
    step whose contrastive batch holds all their pairs (open_clip's ``--accum-freq``)."""

    epochs: int = 10
    batch_size: int = 32
    accumulation_steps: int = 1
    lr: float | None = None  # AdamW's peak learning rate; the caller picks it (it depends on the weights)
    weight_decay: float = 0.1
    warmup_fraction: float = 0.1
    amp: bool = True  # mixed precision; CUDA only, ignored on CPU
    lock_image: bool = False
    # With a locked tower, its last N groups stay trainable, counted from the end as open_clip does:
    # the projection, then the last block (with the final norm), then the blocks before it.
    image_unlocked_groups: int = 0
    lock_text: bool = False
    text_unlocked_layers: int = 0
    patience: int = 0  # stop after this many epochs without a better validation recall; 0 = never
    seed: int = 0
    num_workers: int = 0  # DataLoader processes that decode and augment images

    def check(self) -> None:
        if self.epochs < 0:
            raise TrainingError(f"epochs must be >= 0, got {self.epochs}")
        if self.batch_size < 2 and self.accumulation_steps < 2:
            raise TrainingError(f"a contrastive batch needs at least 2 pairs, got batch size {self.batch_size}")
        if self.batch_size < 1 or self.accumulation_steps < 1:
            raise TrainingError("batch size and accumulation steps must be >= 1")
        if self.lr is not None and self.lr <= 0:
            raise TrainingError(f"learning rate must be positive, got {self.lr}")
        if self.weight_decay < 0 or not 0 <= self.warmup_fraction < 1:
            raise TrainingError("weight decay must be >= 0 and the warmup fraction in [0, 1)")
        if min(self.image_unlocked_groups, self.text_unlocked_layers, self.patience, self.num_workers) < 0:
            raise TrainingError("unlocked groups/layers, patience and workers must be >= 0")
        if self.image_unlocked_groups and not self.lock_image:
            raise TrainingError("image_unlocked_groups applies only with lock_image")
        if self.text_unlocked_layers and not self.lock_text:
            raise TrainingError("text_unlocked_layers applies only with lock_text")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainOptions:
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TrainingError(f"unknown training option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)


@dataclass(frozen=True)
class TrainingProgress:
    """Where a run stands, after each optimizer step."""

    epoch: int
    epochs: int
    step: int
    total_steps: int
    loss: float  # mean training loss of the current epoch so far
    elapsed_seconds: float
    eta_seconds: float | None
