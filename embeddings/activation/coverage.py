"""What a candidate lacks compared with what search serves today: the switch's condition."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet

from catalog.models import Artwork, visible_q
from embeddings.indexing import artworks_missing_vectors
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel

# Most artworks a coverage lists as served but missing: one is enough to hold the switch back.
SERVED_BUT_MISSING_SHOWN = 1000


@dataclass(frozen=True)
class Coverage:
    """What a candidate lacks compared with what search serves today."""

    with_image: int
    embedded: int
    pending: int  # artworks with an image, neither embedded nor failed under the candidate
    failed: int
    served_but_missing: list[int]  # artworks (pk) the active model serves that the candidate has no vector for

    @property
    def complete(self) -> bool:
        if self.pending or self.served_but_missing:
            return False
        return self.embedded > 0 or self.with_image == 0


def coverage(candidate: EmbeddingModel, active: EmbeddingModel | None) -> Coverage:
    with_image = Artwork.objects.exclude(image_id="")
    missing = artworks_missing_vectors(candidate)
    served_but_missing: list[int] = []
    if active is not None and active.pk != candidate.pk:
        served = ArtworkEmbedding.objects.filter(model=active, artwork=OuterRef("pk"))
        served_but_missing = list(
            missing.filter(Exists(served), visible_q())
            .order_by("pk")
            .values_list("pk", flat=True)[:SERVED_BUT_MISSING_SHOWN]
        )
    return Coverage(
        with_image=with_image.count(),
        embedded=ArtworkEmbedding.objects.filter(model=candidate).exclude(artwork__image_id="").count(),
        pending=unhandled_artworks(candidate).count(),
        failed=missing.filter(Exists(_failure(candidate))).count(),
        served_but_missing=served_but_missing,
    )


def unhandled_artworks(candidate: EmbeddingModel) -> QuerySet[Artwork]:
    """Artworks the activation has yet to handle: no vector under ``candidate`` and no failure either.

    Unlike ``indexing.pending_artworks`` (the sweep's), any vector or failure counts, not only one of
    the current image: the pass embeds artworks without a vector, and the switch waits for those alone.
    """
    return artworks_missing_vectors(candidate).exclude(Exists(_failure(candidate)))


def describe_shortfall(candidate: EmbeddingModel, previous: EmbeddingModel | None, found: Coverage) -> str:
    """Why ``candidate`` was not activated, given its incomplete coverage."""
    parts = []
    if found.pending:
        parts.append(f"{found.pending} artworks still pending")
    if found.served_but_missing:
        shown = ", ".join(str(pk) for pk in found.served_but_missing[:20])
        parts.append(
            f"{len(found.served_but_missing)} artworks that {previous.name if previous else 'search'} serves "
            f"could not be embedded (artwork ids {shown}; see embedding failures)"
        )
    if not parts:
        parts.append("no artwork could be embedded")
    return f"{candidate.name} was not activated: " + "; ".join(parts)


def _failure(candidate: EmbeddingModel) -> QuerySet[EmbeddingFailure]:
    return EmbeddingFailure.objects.filter(model=candidate, artwork=OuterRef("pk"))
