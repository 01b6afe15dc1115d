"""Gradient accumulation, LiT tower locking and early stopping in the training loop."""

from __future__ import annotations

import copy
from typing import Any

import open_clip
import pytest
import torch
from PIL import Image

from embeddings.encoders.clip import register_model_configs
from training.contrastive import (
    mixed_precision,
    optimizer_step,
    train,
)
from training.options import Example, TrainingError, TrainOptions

ARCH = "museum-micro"


@pytest.fixture
def clip() -> tuple[Any, Any, Any]:
    register_model_configs()
    torch.manual_seed(0)
    model, preprocess_train, preprocess_val = open_clip.create_model_and_transforms(
        ARCH, pretrained=None, output_dict=True
    )
    return model, preprocess_train, preprocess_val


def _examples(count: int) -> list[Example]:
    colours = [(40 * i % 256, 90 * i % 256, 160 * i % 256) for i in range(count)]
    return [
        Example(f"{i}", f"a square of colour number {i}", Image.new("RGB", (40, 40), colours[i])) for i in range(count)
    ]


def _params(model: Any, prefix: str) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.named_parameters() if name.startswith(prefix)}


def _changed(before: dict[str, torch.Tensor], model: Any) -> set[str]:
    now = dict(model.named_parameters())
    return {name for name, value in before.items() if not torch.equal(value, now[name].detach())}


def test_accumulated_micro_batches_take_the_same_step_as_one_large_batch(clip: tuple[Any, Any, Any]) -> None:
    model, _, _ = clip
    other = copy.deepcopy(model)
    torch.manual_seed(1)
    images = torch.randn(8, 3, 32, 32)
    texts = open_clip.get_tokenizer(ARCH)([f"picture {i}" for i in range(8)])
    device = torch.device("cpu")
    autocast, scaler = mixed_precision(device, amp=True)  # AMP applies to CUDA only: here a no-op
    loss_fn = open_clip.ClipLoss()

    one = torch.optim.SGD(model.parameters(), lr=0.5)
    whole = optimizer_step(model, [(images, texts)], device, loss_fn, one, scaler, autocast)
    two = torch.optim.SGD(other.parameters(), lr=0.5)
    halves = [(images[:4], texts[:4]), (images[4:], texts[4:])]
    accumulated = optimizer_step(other, halves, device, loss_fn, two, scaler, autocast)

    assert accumulated == pytest.approx(whole, rel=1e-5)
    for (name, value), (_, other_value) in zip(model.named_parameters(), other.named_parameters(), strict=True):
        torch.testing.assert_close(other_value, value, rtol=1e-4, atol=1e-6, msg=name)


def test_a_locked_image_tower_stays_as_it_was_but_its_unlocked_groups_train(clip: tuple[Any, Any, Any]) -> None:
    model, preprocess_train, _ = clip
    visual, text = _params(model, "visual."), _params(model, "transformer.")
    options = TrainOptions(epochs=1, batch_size=4, lr=1e-2, lock_image=True, image_unlocked_groups=1)

    train(
        model,
        _examples(8),
        preprocess=preprocess_train,
        tokenizer=open_clip.get_tokenizer(ARCH),
        device=torch.device("cpu"),
        options=options,
    )

    assert _changed(visual, model) == {"visual.proj"}  # the last group of a ViT is its projection
    assert _changed(text, model) == set(text)


def test_a_locked_text_tower_trains_only_its_last_groups(clip: tuple[Any, Any, Any]) -> None:
    model, preprocess_train, _ = clip
    text = _params(model, "transformer.") | _params(model, "token_embedding.") | _params(model, "text_projection")
    visual = _params(model, "visual.")
    # open_clip's groups from the end: the projection, then the last block with the final norm.
    options = TrainOptions(epochs=1, batch_size=4, lr=1e-2, lock_text=True, text_unlocked_layers=2)

    train(
        model,
        _examples(8),
        preprocess=preprocess_train,
        tokenizer=open_clip.get_tokenizer(ARCH),
        device=torch.device("cpu"),
        options=options,
    )

    changed = _changed(text, model)
    assert "text_projection" in changed
    assert any(name.startswith("transformer.resblocks.0.") for name in changed)  # micro's only block
    assert "token_embedding.weight" not in changed
    assert _changed(visual, model) == set(visual)


def test_it_stops_early_and_keeps_the_best_epochs_weights(clip: tuple[Any, Any, Any]) -> None:
    model, preprocess_train, _ = clip
    scores = iter([0.2, 0.5, 0.3, 0.1, 0.9])  # before training, then after epochs 1, 2, 3, ...
    snapshots: list[dict[str, torch.Tensor]] = []

    def evaluate() -> dict[str, float]:
        snapshots.append({name: value.detach().clone() for name, value in model.state_dict().items()})
        return {"t2i_recall@5": next(scores)}

    result = train(
        model,
        _examples(8),
        preprocess=preprocess_train,
        tokenizer=open_clip.get_tokenizer(ARCH),
        device=torch.device("cpu"),
        options=TrainOptions(epochs=5, batch_size=4, lr=1e-2, patience=2),
        evaluate=evaluate,
    )

    assert [entry["epoch"] for entry in result.history] == [1, 2, 3]
    assert result.stopped_early and result.best_epoch == 1
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, snapshots[1][name])  # epoch 1's weights, not epoch 3's


def test_it_refuses_options_it_does_not_know() -> None:
    with pytest.raises(TrainingError, match="unknown training option"):
        TrainOptions.from_dict({"epochs": 1, "learning_rate": 0.1})
    with pytest.raises(TrainingError, match="only with lock_image"):
        TrainOptions(image_unlocked_groups=2).check()
