"""CLIP models for benchmarks: real architectures with seeded random weights.

No pretrained weights can be downloaded where benchmarks run offline; random weights cost
exactly the same arithmetic, so speed and memory are those of the real model.
"""

from __future__ import annotations

from pathlib import Path

from bench.environment import BENCH_DIR


def random_checkpoint(architecture: str, seed: int = 0) -> Path:
    """An open_clip checkpoint of ``architecture`` with seeded random weights (written once)."""
    path = BENCH_DIR / "models" / f"{architecture}-random-seed{seed}.pt"
    if path.exists():
        return path
    import open_clip
    import torch

    from embeddings.encoders.clip import register_model_configs

    register_model_configs()
    torch.manual_seed(seed)
    model = open_clip.create_model(architecture, pretrained=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    torch.save({"state_dict": model.state_dict()}, partial)
    partial.replace(path)
    return path


def register_random_model(name: str, architecture: str, *, activate: bool = False) -> object:
    """Register ``architecture`` with random weights as ``name`` in the benchmark database."""
    from embeddings.encoders.registry import register_model
    from embeddings.models import EmbeddingModel

    checkpoint = str(random_checkpoint(architecture))
    found = EmbeddingModel.objects.filter(name=name, architecture=architecture, pretrained=checkpoint).first()
    # Registered once: registering again would reset the notes that say which collection it holds.
    model: EmbeddingModel = found or register_model(name, architecture, checkpoint, check_weights=False)
    if activate:
        model.activate()
    return model
