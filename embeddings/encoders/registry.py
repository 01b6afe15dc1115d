"""Registering CLIP models: architecture and weights become an EmbeddingModel row."""

from __future__ import annotations

from embeddings.encoders.types import Spec
from embeddings.models import EmbeddingModel


def register_model(
    name: str, architecture: str, pretrained: str, *, check_weights: bool = True, notes: str = ""
) -> EmbeddingModel:
    """Create (or update) an inactive model entry, after checking that its weights load.

    Its text and image towers are exported to ONNX for the web processes (SEARCH_ENCODER_RUNTIME=onnx);
    a model whose towers cannot be exported is still registered, and searched with PyTorch.
    """
    # PyTorch and open_clip: imported by the process that registers, never by a web process importing this.
    from embeddings.encoders.clip import create_clip, embedding_dimension
    from embeddings.encoders.onnx_export import export_for_web_processes

    if check_weights:
        create_clip(Spec(architecture, pretrained))
    model, _ = EmbeddingModel.objects.update_or_create(
        name=name,
        defaults={
            "architecture": architecture,
            "pretrained": pretrained,
            "dimension": embedding_dimension(architecture),
            "notes": notes,
        },
    )
    export_for_web_processes(model)
    return model
