"""CLIP models and the vectors they gave each artwork."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q, Value
from django.db.models.functions import Cast
from pgvector.django import CosineDistance, HalfVectorField, VectorField

from catalog.models import Artwork
from embeddings.signals import vectors_changed


class EmbeddingModel(models.Model):
    """A CLIP architecture plus its weights: everything needed to reproduce a vector."""

    name = models.SlugField(max_length=100, unique=True)
    architecture = models.CharField(max_length=100, help_text="open_clip model name, e.g. ViT-B-32")
    pretrained = models.CharField(
        max_length=500, blank=True, help_text="open_clip pretrained tag, a checkpoint path, or empty for none"
    )
    dimension = models.PositiveIntegerField()
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    notes = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_model"),
            models.CheckConstraint(condition=Q(dimension__gte=1, dimension__lte=2000), name="hnsw_dimension_limit"),
        ]
        # Each changes what visitors get or destroys work, so each is granted on its own (docs/security.md, Permissions).
        permissions = [
            ("activate_embeddingmodel", "Can activate a model that passes the evaluation gate"),
            ("force_activate_embeddingmodel", "Can activate a model past a failed evaluation gate"),
            ("prune_embeddingmodel", "Can delete the vectors of an inactive model"),
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def active(cls) -> EmbeddingModel | None:
        return cls.objects.filter(is_active=True).first()

    def activate(self) -> None:
        self.ensure_index()
        with transaction.atomic():
            EmbeddingModel.objects.filter(is_active=True).exclude(pk=self.pk).update(is_active=False)
            EmbeddingModel.objects.filter(pk=self.pk).update(is_active=True)
            transaction.on_commit(lambda: vectors_changed.send(sender=EmbeddingModel, model=self))
        self.is_active = True

    @property
    def hnsw_index_name(self) -> str:
        return f"artwork_embedding_hnsw_{self.pk}"

    def index_distance(self, vector: Any) -> CosineDistance:
        """The cosine distance from ``vector`` (an array or an expression) as this model's HNSW index
        computes it, in half precision: ordering by it is what lets the planner walk the index."""
        half = HalfVectorField(dimensions=self.dimension)
        query = vector if hasattr(vector, "resolve_expression") else Value(vector, output_field=VectorField())
        return CosineDistance(Cast("vector", half), Cast(query, half))

    def ensure_index(self, m: int | None = None, ef_construction: int | None = None) -> None:
        """Create this model's HNSW index (cosine) over its vectors alone, unless it exists.

        One partial index per model keeps each model's graph separate, so search never mixes
        models, and lets models of different dimensions share one table. It is built when the model
        goes live (``activate``, the activation's switch): building it over a whole collection at
        once is several times cheaper than inserting each vector into the graph as it is embedded.
        The build holds off writes to the embeddings table until it ends.

        The graph holds the vectors in half precision (pgvector's halfvec): half the memory of
        float32 and a faster walk at the same recall (``bench.search``); the table keeps float32,
        and search scores with it.
        """
        table = ArtworkEmbedding._meta.db_table
        m = settings.HNSW_M if m is None else m
        ef_construction = settings.HNSW_EF_CONSTRUCTION if ef_construction is None else ef_construction
        # Only integers from our own rows and settings are interpolated: identifiers cannot be parameters.
        sql = (
            f"CREATE INDEX IF NOT EXISTS {self.hnsw_index_name} ON {table} "
            f"USING hnsw ((vector::halfvec({int(self.dimension)})) halfvec_cosine_ops) "
            f"WITH (m = {int(m)}, ef_construction = {int(ef_construction)}) "
            f"WHERE model_id = {int(self.pk)}"
        )
        with transaction.atomic(), connection.cursor() as cursor:
            # The build is much faster while the graph fits in maintenance_work_mem (pgvector's advice).
            cursor.execute(f"SET LOCAL maintenance_work_mem = '{int(settings.HNSW_BUILD_MEMORY_MB)}MB'")
            cursor.execute(sql)

    def drop_index(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {self.hnsw_index_name}")


class ArtworkEmbedding(models.Model):
    """One artwork's L2-normalised image vector under one model."""

    artwork = models.ForeignKey(Artwork, on_delete=models.CASCADE, related_name="embeddings")
    model = models.ForeignKey(EmbeddingModel, on_delete=models.CASCADE, related_name="embeddings")
    # No fixed dimension: each model's rows are cast to its own dimension by its partial HNSW index.
    vector = VectorField()
    image_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["artwork", "model"], name="one_vector_per_artwork_model")]

    def __str__(self) -> str:
        return f"{self.artwork_id} under {self.model_id}"


class EmbeddingFailure(models.Model):
    """Why an artwork could not be embedded under a model (cleared when it later succeeds)."""

    artwork = models.ForeignKey(Artwork, on_delete=models.CASCADE, related_name="embedding_failures")
    model = models.ForeignKey(EmbeddingModel, on_delete=models.CASCADE, related_name="failures")
    image_id = models.CharField(max_length=64, blank=True)
    reason = models.TextField()
    # Failures that count towards EMBED_MAX_ATTEMPTS: permanent ones, and transient ones while the
    # image server answered other requests. During an outage every image fails, and none of
    # those failures count, so an outage of any length heals once the server is back.
    attempts = models.PositiveIntegerField(default=1)
    tries = models.PositiveIntegerField(default=1, help_text="Every failed try, counted or not.")
    failed_at = models.DateTimeField(auto_now=True)
    # A transient failure (IIIF down, a timeout, 429) is tried again by the sweep from ``retry_at``;
    # a permanent one (404, undecodable, too large) has none, and waits for a new image or a curator.
    transient = models.BooleanField(default=False)
    retry_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["artwork", "model"], name="one_failure_per_artwork_model")]

    def __str__(self) -> str:
        return f"{self.artwork_id} under {self.model_id}: {self.reason}"
