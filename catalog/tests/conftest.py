"""Fixtures of the catalog's tests."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.signals import artworks_need_embedding


@pytest.fixture
def embedding_requests() -> Any:
    """Artwork ids the catalog asked to embed, as the signal delivered them."""
    received: list[int] = []

    def listener(sender: Any, artwork_ids: list[int], **kwargs: Any) -> None:
        received.extend(artwork_ids)

    artworks_need_embedding.connect(listener)
    yield received
    artworks_need_embedding.disconnect(listener)
