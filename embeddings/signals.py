"""Signals the embeddings app sends; other apps listen without this one knowing them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after commit with ``model`` (an EmbeddingModel) when vectors were stored under it, and when it
# became the active model.
vectors_changed = Signal()
