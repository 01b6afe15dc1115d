"""What is embedded under a model, and queueing what is not."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from celery import current_app
from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet

from catalog.models import Artwork
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel

# Sent by name: the task module imports this one, never the other way round.
EMBED_TASK = "embeddings.tasks.embed_artworks_task"


@dataclass(frozen=True)
class IndexCounts:
    artworks: int
    embedded: int
    failed: int
    pending: int
    no_image: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def index_counts(model: EmbeddingModel) -> IndexCounts:
    """Counts for one model. An artwork without an image is never pending."""
    listed = Artwork.objects.filter(withdrawn_at=None)
    artworks = listed.count()
    no_image = listed.filter(image_id="").count()
    embedded = ArtworkEmbedding.objects.filter(model=model, artwork__withdrawn_at=None).count()
    failed = (
        EmbeddingFailure.objects.filter(model=model, artwork__withdrawn_at=None)
        .exclude(artwork__image_id="")
        .exclude(Exists(ArtworkEmbedding.objects.filter(model=model, artwork=OuterRef("artwork"))))
        .count()
    )
    pending = max(artworks - no_image - embedded - failed, 0)
    return IndexCounts(artworks=artworks, embedded=embedded, failed=failed, pending=pending, no_image=no_image)


def artworks_missing_vectors(model: EmbeddingModel) -> QuerySet[Artwork]:
    """Artworks with an image and no vector under ``model`` (failed ones included: a retry), unordered.

    The one definition: the embed_missing command queues these, and a model's activation embeds them."""
    has_vector = ArtworkEmbedding.objects.filter(model=model, artwork=OuterRef("pk"))
    return Artwork.objects.filter(withdrawn_at=None).exclude(image_id="").exclude(Exists(has_vector))


def enqueue_embedding(
    artwork_ids: list[int], model: EmbeddingModel, batch_size: int | None = None, *, force: bool = False
) -> int:
    """Send ``artwork_ids`` to the embed queue in batches; returns the number of tasks sent.

    A task leaves out artworks that already have a vector of their current image, unless ``force``.
    """
    size = batch_size or settings.EMBED_BATCH_SIZE
    ids = sorted(set(artwork_ids))
    batches = [ids[start : start + size] for start in range(0, len(ids), size)]
    for batch in batches:
        current_app.send_task(EMBED_TASK, args=[batch, model.pk], kwargs={"force": force})
    return len(batches)


def enqueue_missing(model: EmbeddingModel, batch_size: int | None = None) -> tuple[int, int]:
    """Queue every artwork that has no vector under ``model``; returns (artworks, tasks)."""
    ids = list(artworks_missing_vectors(model).order_by("pk").values_list("pk", flat=True))
    return len(ids), enqueue_embedding(ids, model, batch_size)


@dataclass(frozen=True)
class FailureCounts:
    """Artworks whose embedding failed under a model, by what happens next (withdrawn ones left out).

    ``awaiting_retry``: a transient failure the sweep tries again from its ``retry_at``.
    ``permanent``: no ``retry_at``; it waits for a new image or a curator's retry.
    """

    awaiting_retry: int
    permanent: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def failure_counts(model: EmbeddingModel) -> FailureCounts:
    """Failures under ``model`` of artworks still listed, as index_counts counts them (an artwork
    with an image and no vector). Read from the failures (the index on their model), each joined to
    its artwork by primary key and looked up in the (artwork, model) vector index."""
    failures = (
        EmbeddingFailure.objects.filter(model=model, artwork__withdrawn_at=None)
        .exclude(artwork__image_id="")
        .exclude(Exists(ArtworkEmbedding.objects.filter(model=model, artwork=OuterRef("artwork"))))
    )
    return FailureCounts(
        awaiting_retry=failures.filter(transient=True, retry_at__isnull=False).count(),
        permanent=failures.filter(retry_at__isnull=True).count(),
    )


def pending_artworks(model: EmbeddingModel) -> QuerySet[Artwork]:
    """Artworks waiting for a vector under ``model``: an image, not withdrawn, and neither a vector nor a
    failure of their current image (a changed image is pending again). The two anti-joins are served by
    the (artwork, model) unique indexes of vectors and failures."""
    current = {"model": model, "artwork": OuterRef("pk"), "image_id": OuterRef("image_id")}
    return (
        Artwork.objects.filter(withdrawn_at=None)
        .exclude(image_id="")
        .exclude(Exists(ArtworkEmbedding.objects.filter(**current)))
        .exclude(Exists(EmbeddingFailure.objects.filter(**current)))
    )


def oldest_pending_artwork(model: EmbeddingModel) -> Artwork | None:
    """The pending artwork under ``model`` that has waited longest (oldest ``updated_at``), or None.

    Only ``id`` and ``updated_at`` are loaded. The artworks are read in one pass, as index_counts'
    no_image count reads them: neither ``image_id`` nor ``updated_at`` has an index, and every
    artwork without an image has no vector, so no index of ours narrows the pass.
    """
    return pending_artworks(model).order_by("updated_at", "pk").only("pk", "updated_at").first()
