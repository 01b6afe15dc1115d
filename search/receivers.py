"""Whatever can change a search's answer marks the cached answers stale (search/result_cache.py).

A curator's pins and synonyms change answers too: saving or deleting one bumps the generation.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from catalog.models import Artwork, QueryPin, Synonym
from catalog.signals import artworks_changed
from embeddings.models import EmbeddingModel
from embeddings.signals import vectors_changed
from search.result_cache import bump_generation


@receiver(post_save, sender=Artwork, dispatch_uid="search.artwork_saved")
@receiver(post_delete, sender=Artwork, dispatch_uid="search.artwork_deleted")
@receiver(artworks_changed, dispatch_uid="search.artworks_changed")
@receiver(post_save, sender=QueryPin, dispatch_uid="search.pin_saved")
@receiver(post_delete, sender=QueryPin, dispatch_uid="search.pin_deleted")
@receiver(post_save, sender=Synonym, dispatch_uid="search.synonym_saved")
@receiver(post_delete, sender=Synonym, dispatch_uid="search.synonym_deleted")
def artworks_changed_results(sender: Any, **kwargs: Any) -> None:
    bump_generation()


@receiver(vectors_changed, dispatch_uid="search.vectors_changed")
def vectors_changed_results(sender: Any, model: EmbeddingModel, **kwargs: Any) -> None:
    if model.is_active:  # a model still being embedded serves nothing yet
        bump_generation()
