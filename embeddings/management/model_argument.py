"""The --model argument of the embeddings and training commands: a registered model, or the active one."""

from __future__ import annotations

from django.core.management.base import CommandError

from embeddings.models import EmbeddingModel


def resolve_model(name: str | None) -> EmbeddingModel:
    """The model named ``name``, or the active one when no name is given; CommandError naming the choices."""
    if name:
        model = EmbeddingModel.objects.filter(name=name).first()
        if model is None:
            known = ", ".join(EmbeddingModel.objects.values_list("name", flat=True)) or "none registered"
            raise CommandError(f"no model named {name!r} (known: {known})")
        return model
    model = EmbeddingModel.active()
    if model is None:
        raise CommandError("no active model: pass --model NAME or activate one")
    return model
