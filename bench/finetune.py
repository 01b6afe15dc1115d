"""Fine-tuning measurably improves search: a procedural benchmark through the real training loop.

    python -m bench.finetune [--quick] [--seed 0] [--threads 1]
    python -m bench.finetune --throughput [--model ViT-B-32] [--batch-size 256] [--device cuda]

Default mode: generated "artworks" (``bench.procedural``: palette, shape, count, brush style,
composition) with two families of descriptions. A small CLIP is pre-trained from random weights on
the plain family (terse labels), which gives the base model; it is then fine-tuned on the museum family
(wall-text language: other words, other syntax) with its image tower locked (LiT) and early stopping
on validation recall. Both stages run ``training.contrastive.train``, the loop behind
``manage.py finetune_clip``; recall is ``training.evaluation``'s, over the whole held-out set.
Held-out museum-style text→image recall@5 must rise by ≥ 0.30 absolute and to ≥ 3 times the base;
the exit status is 1 when it does not.

``--throughput`` (for a GPU): samples/s of fine-tuning an architecture at a batch size with AMP,
through the real loop (images decoded and augmented by DataLoader workers), against a bare train
step on ready tensors already on the device; their ratio is the data-loading overhead.

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import open_clip
import torch

from bench.environment import machine, print_table
from bench.procedural import Artwork, museum_description, plain_description, random_artworks, render
from training.contrastive import (
    create_trainable_model,
    eval_tensors,
    mixed_precision,
    optimizer_step,
    seed_everything,
    train,
)
from training.evaluation import retrieval_metrics
from training.options import Example, TrainingProgress, TrainOptions

ARCHITECTURE = "bench-procedural-clip"
# Small enough to pre-train and fine-tune on two CPU cores in minutes; the text tower is the wider one,
# since learning the museum vocabulary is the fine-tuning's job.
MODEL_CONFIG: dict[str, Any] = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 4},
    "text_cfg": {"context_length": 40, "vocab_size": 49408, "width": 128, "heads": 2, "layers": 2},
}
REQUIRED_GAIN = 0.30
REQUIRED_RATIO = 3.0


@dataclass(frozen=True)
class Scale:
    pretrain_pairs: int
    finetune_pairs: int
    val_pairs: int
    test_pairs: int
    pretrain: TrainOptions
    finetune: TrainOptions


FULL = Scale(
    pretrain_pairs=2400,
    finetune_pairs=1200,
    val_pairs=100,
    test_pairs=200,
    pretrain=TrainOptions(epochs=8, batch_size=64, lr=1e-3, weight_decay=0.1),
    finetune=TrainOptions(epochs=8, batch_size=64, lr=1e-3, weight_decay=0.1, lock_image=True, patience=2),
)
# The smoke version in the tests: the same path at a fraction of the size. Too small to show the
# held-out gain reliably; it shows that both stages learn (plain-label recall, falling losses).
QUICK = Scale(
    pretrain_pairs=384,
    finetune_pairs=256,
    val_pairs=32,
    test_pairs=48,
    pretrain=TrainOptions(epochs=4, batch_size=32, lr=2e-3, weight_decay=0.1),
    finetune=TrainOptions(epochs=3, batch_size=32, lr=2e-3, weight_decay=0.1, lock_image=True, patience=2),
)


def run_procedural(scale: Scale, *, seed: int = 0, log: Any = print) -> dict[str, Any]:
    """Pre-train on plain labels, fine-tune on museum descriptions; recall before and after on held-out art."""
    started = time.monotonic()
    register_architecture()
    seed_everything(seed)
    image_size = int(MODEL_CONFIG["vision_cfg"]["image_size"])
    rng = random.Random(seed)
    # Disjoint artworks for each stage: the test set holds compositions no stage trained on.
    pretrain = _pairs(random_artworks(scale.pretrain_pairs, rng), plain_description, image_size, rng, "pre")
    finetune = _pairs(random_artworks(scale.finetune_pairs, rng), museum_description, image_size, rng, "ft")
    val = _pairs(random_artworks(scale.val_pairs, rng), museum_description, image_size, rng, "val")
    test_artworks = random_artworks(scale.test_pairs, rng)
    test = _pairs(test_artworks, museum_description, image_size, rng, "test")
    test_plain = [
        replace(example, caption=plain_description(art, rng)) for example, art in zip(test, test_artworks, strict=True)
    ]

    device = torch.device("cpu")
    model, preprocess_train, preprocess_eval = create_trainable_model(ARCHITECTURE, None, device)
    tokenizer = open_clip.get_tokenizer(ARCHITECTURE)
    test_images, test_tokens = eval_tensors(test, preprocess_eval, tokenizer)
    plain_images, plain_tokens = eval_tensors(test_plain, preprocess_eval, tokenizer)
    val_images, val_tokens = eval_tensors(val, preprocess_eval, tokenizer)

    log(f"pre-training on {len(pretrain)} plain labels")
    pretrained = train(
        model,
        pretrain,
        preprocess=preprocess_train,
        tokenizer=tokenizer,
        device=device,
        options=replace(scale.pretrain, seed=seed),
        log=log,
    )
    base_plain = retrieval_metrics(model, plain_images, plain_tokens, device)
    before = retrieval_metrics(model, test_images, test_tokens, device)
    pretrain_seconds = time.monotonic() - started
    log(
        f"base model: plain-label t2i recall@5 {base_plain['t2i_recall@5']:.3f}, "
        f"museum-style t2i recall@5 {before['t2i_recall@5']:.3f}"
    )

    log(f"fine-tuning on {len(finetune)} museum descriptions, image tower locked")
    tuned = train(
        model,
        finetune,
        preprocess=preprocess_train,
        tokenizer=tokenizer,
        device=device,
        options=replace(scale.finetune, seed=seed),
        evaluate=lambda: retrieval_metrics(model, val_images, val_tokens, device),
        log=log,
    )
    after = retrieval_metrics(model, test_images, test_tokens, device)
    seconds = time.monotonic() - started
    gain = after["t2i_recall@5"] - before["t2i_recall@5"]
    ratio = after["t2i_recall@5"] / before["t2i_recall@5"] if before["t2i_recall@5"] else float("inf")
    return {
        "before_t2i_recall@5": before["t2i_recall@5"],
        "after_t2i_recall@5": after["t2i_recall@5"],
        "seconds": round(seconds, 1),
        "gain": round(gain, 4),
        "ratio": round(ratio, 2) if ratio != float("inf") else None,
        "passed": gain >= REQUIRED_GAIN and after["t2i_recall@5"] >= REQUIRED_RATIO * before["t2i_recall@5"],
        "before": before,
        "after": after,
        "base_plain_t2i_recall@5": base_plain["t2i_recall@5"],
        "pretrain_seconds": round(pretrain_seconds, 1),
        "pretrain_losses": [round(entry["train_loss"], 4) for entry in pretrained.history],
        "finetune_losses": [round(entry["train_loss"], 4) for entry in tuned.history],
        "finetune_best_epoch": tuned.best_epoch,
        "pairs": {
            "pretrain": len(pretrain),
            "finetune": len(finetune),
            "val": len(val),
            "test": len(test),
        },
        "seed": seed,
        "threads": torch.get_num_threads(),
    }


def run_throughput(
    architecture: str, *, batch_size: int, steps: int, device_name: str, workers: int, amp: bool
) -> dict[str, Any]:
    """Fine-tuning samples/s through the real loop against a bare step on ready tensors (same model)."""
    register_architecture()
    device = torch.device(device_name if device_name != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    seed_everything(0)
    model, preprocess_train, _ = create_trainable_model(architecture, None, device)
    tokenizer = open_clip.get_tokenizer(architecture)
    size = model.visual.image_size
    side = int(max(size) if isinstance(size, (tuple, list)) else size)
    rng = random.Random(0)
    warmup = 3
    count = batch_size * (steps + warmup)
    examples = _pairs(random_artworks(count, rng), museum_description, side + side // 8, rng, "gpu")
    options = TrainOptions(epochs=1, batch_size=batch_size, lr=1e-5, amp=amp, num_workers=workers)

    # The real loop: DataLoader workers decode and augment while the device trains.
    stamps: list[float] = []

    def on_progress(progress: TrainingProgress) -> None:
        _synchronize(device)
        stamps.append(time.perf_counter())

    train(
        model,
        examples,
        preprocess=preprocess_train,
        tokenizer=tokenizer,
        device=device,
        options=options,
        on_progress=on_progress,
        log=lambda line: None,
    )
    loop_rate = batch_size * (len(stamps) - warmup) / (stamps[-1] - stamps[warmup - 1])

    # The bare step: the same optimizer step on one batch already on the device.
    model.train()
    images = torch.stack([preprocess_train(example.image) for example in examples[:batch_size]]).to(device)
    texts = tokenizer([example.caption for example in examples[:batch_size]]).to(device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    loss_fn = open_clip.ClipLoss()
    autocast, scaler = mixed_precision(device, amp)
    for _ in range(warmup):
        optimizer_step(model, [(images, texts)], device, loss_fn, optimizer, scaler, autocast)
    _synchronize(device)
    began = time.perf_counter()
    for _ in range(steps):
        optimizer_step(model, [(images, texts)], device, loss_fn, optimizer, scaler, autocast)
    _synchronize(device)
    bare_rate = batch_size * steps / (time.perf_counter() - began)
    return {
        "architecture": architecture,
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "batch_size": batch_size,
        "amp": amp and device.type == "cuda",
        "workers": workers,
        "loop_samples_per_s": round(loop_rate, 1),
        "bare_samples_per_s": round(bare_rate, 1),
        "loop_to_bare": round(loop_rate / bare_rate, 3),
    }


def register_architecture() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-clip-"))
    (folder / f"{ARCHITECTURE}.json").write_text(json.dumps(MODEL_CONFIG))
    open_clip.add_model_config(folder)


def _pairs(artworks: list[Artwork], describe: Any, image_size: int, rng: random.Random, prefix: str) -> list[Example]:
    return [
        Example(f"{prefix}-{index}", describe(artwork, rng), render(artwork, image_size, rng))
        for index, artwork in enumerate(artworks)
    ]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the small smoke version (seconds; no pass/fail)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 holds up best when other work shares the cores)"
    )
    parser.add_argument("--throughput", action="store_true", help="GPU fine-tuning throughput instead")
    parser.add_argument("--model", default="ViT-B-32", help="--throughput: open_clip architecture (random weights)")
    parser.add_argument("--batch-size", type=int, default=256, help="--throughput: pairs per step")
    parser.add_argument("--steps", type=int, default=20, help="--throughput: timed steps")
    parser.add_argument("--device", default="auto", help="--throughput: cuda, cpu or auto")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2), help="--throughput")
    parser.add_argument("--no-amp", action="store_true", help="--throughput: full precision")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    # Weight decay drives unused token embeddings toward zero; subnormal floats there are very slow on CPUs.
    torch.set_flush_denormal(True)
    where = machine()

    if args.throughput:
        result = run_throughput(
            args.model,
            batch_size=args.batch_size,
            steps=args.steps,
            device_name=args.device,
            workers=args.workers,
            amp=not args.no_amp,
        )
        print_table(
            f"Fine-tuning throughput: {result['architecture']}, batch {result['batch_size']}, {result['device']}",
            [
                ("real loop (DataLoader workers)", f"{result['loop_samples_per_s']:10.1f} samples/s"),
                ("bare step, ready tensors", f"{result['bare_samples_per_s']:10.1f} samples/s"),
                ("loop / bare", f"{result['loop_to_bare']:10.3f}  (target ≥ 0.90)"),
            ],
        )
    else:
        result = run_procedural(QUICK if args.quick else FULL, seed=args.seed)
        print_table(
            "Procedural fine-tuning benchmark (held-out museum-style descriptions)",
            [
                ("base, plain labels t2i recall@5", f"{result['base_plain_t2i_recall@5']:.3f}"),
                ("base, museum style t2i recall@5", f"{result['before_t2i_recall@5']:.3f}"),
                ("fine-tuned t2i recall@5", f"{result['after_t2i_recall@5']:.3f}"),
                (
                    "gain / ratio",
                    f"+{result['gain']:.3f} / {result['ratio']}x  (need +{REQUIRED_GAIN}, {REQUIRED_RATIO}x)",
                ),
                ("seconds (pre-training)", f"{result['seconds']:.0f} ({result['pretrain_seconds']:.0f})"),
                ("passed", str(result["passed"])),
            ],
        )
    result["machine"] = where
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    outcome = main()
    sys.exit(0 if outcome.get("passed", True) or "--quick" in sys.argv else 1)
