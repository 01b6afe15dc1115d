"""CLIP models and the vectors they gave each artwork."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q, Value
from django.db.models.functions import Cast
from django.db.models.signals import pre_delete
from django.dispatch import receiver
from pgvector.django import CosineDistance, HalfVectorField, VectorField

from catalog.models import Artwork
from embeddings.signals import vectors_changed

logger = logging.getLogger(__name__)

# Each model's vectors are a partition of the embeddings table named this and the model's primary key.
PARTITION_PREFIX = "embeddings_artworkembedding_m"
# What one element of an HNSW graph under construction costs besides its vector: a neighbour is a
# pointer and a distance; an element carries heap pointers, its level and its lists' headers.
_NEIGHBOUR_BYTES = 16
_ELEMENT_BYTES = 128
_MIN_BUILD_MEMORY_MB = 64  # PostgreSQL's own default maintenance_work_mem


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
    match_threshold = models.FloatField(
        null=True,
        blank=True,
        help_text=(
            "Cosine similarity below which a semantic match is weak, calibrated on the model's evaluation "
            "split (training/evaluation.py match_threshold); empty: not calibrated, no match is weak."
        ),
    )

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

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        self.ensure_partition()

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

    @property
    def partition_name(self) -> str:
        """The table that holds this model's vectors: its partition of the embeddings table."""
        return f"{PARTITION_PREFIX}{int(self.pk)}"

    def ensure_partition(self) -> None:
        """Create this model's partition of the embeddings table, unless it exists.

        The table is created on its own, then attached: attaching an empty table holds off neither
        searches nor other models' writes, where ``CREATE TABLE ... PARTITION OF`` would lock the
        whole embeddings table for a moment.
        """
        table = ArtworkEmbedding._meta.db_table
        partition = f"{PARTITION_PREFIX}{int(self.pk)}"
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [partition])
            if cursor.fetchone()[0]:
                return
            # The check lets ATTACH skip its scan for rows of another model.
            cursor.execute(
                f"CREATE TABLE {partition} (LIKE {table} INCLUDING DEFAULTS INCLUDING STORAGE, "
                f"CHECK (model_id IS NOT NULL AND model_id = {int(self.pk)}))"
            )
            cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {partition} FOR VALUES IN ({int(self.pk)})")

    def drop_partition(self) -> int:
        """Drop this model's partition, vectors and HNSW index at once; returns the vectors it held."""
        table = ArtworkEmbedding._meta.db_table
        partition = f"{PARTITION_PREFIX}{int(self.pk)}"
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [partition])
            if not cursor.fetchone()[0]:
                return 0
            cursor.execute(f"SELECT count(*) FROM {partition}")
            vectors = int(cursor.fetchone()[0])
            cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {partition}")
            cursor.execute(f"DROP TABLE {partition}")
        return vectors

    def index_distance(self, vector: Any) -> CosineDistance:
        """The cosine distance from ``vector`` (an array or an expression) as this model's HNSW index
        computes it, in half precision: ordering by it is what lets the planner walk the index."""
        half = HalfVectorField(dimensions=self.dimension)
        query = vector if hasattr(vector, "resolve_expression") else Value(vector, output_field=VectorField())
        return CosineDistance(Cast("vector", half), Cast(query, half))

    def index_build_memory_mb(self, vectors: int, m: int) -> int:
        """``maintenance_work_mem`` for building this model's graph over ``vectors`` vectors: enough to
        hold the whole graph, capped by HNSW_BUILD_MEMORY_MB.

        A build whose graph outgrows this memory goes on writing it to disk, several times slower
        (pgvector's advice). Each element holds its half-precision vector, its neighbour lists (2m on
        the ground layer, m on each upper one, of which there are 1/(m-1) on average) and pgvector's
        bookkeeping; a quarter more covers the allocator.
        """
        neighbours = 2 * m + m / max(m - 1, 1)
        per_vector = 2 * self.dimension + neighbours * _NEIGHBOUR_BYTES + _ELEMENT_BYTES
        wanted = math.ceil(vectors * per_vector * 1.25 / 2**20)
        return max(_MIN_BUILD_MEMORY_MB, min(int(settings.HNSW_BUILD_MEMORY_MB), wanted))

    def ensure_index(self, m: int | None = None, ef_construction: int | None = None) -> None:
        """Build this model's HNSW index (cosine) on its partition, unless a valid one exists.

        Each model's graph lives on its own partition, so search never mixes models, and models of
        different dimensions share one table. It is built when the model goes live (``activate``, the
        activation's switch): building it over a whole collection at once is several times cheaper
        than inserting each vector into the graph as it is embedded.

        Outside a transaction it is built ``CONCURRENTLY`` on a connection of its own (straight to
        PostgreSQL, DATABASE_DIRECT_URL, where the default one goes through a pooler), so the model's
        vectors can still be written while it builds; an index such a build left INVALID (the process
        was stopped) is dropped and built again, and one another process is building is waited for. Inside a transaction it is built there, holding off
        writes to this model's partition alone until the transaction ends.

        The graph holds the vectors in half precision (pgvector's halfvec): half the memory of
        float32 and a faster walk at the same recall (``bench.search``); the table keeps float32,
        and search scores with it.
        """
        self.ensure_partition()
        m = settings.HNSW_M if m is None else m
        ef_construction = settings.HNSW_EF_CONSTRUCTION if ef_construction is None else ef_construction
        partition = f"{PARTITION_PREFIX}{int(self.pk)}"
        found = self._index_state()
        while found is not None and found[1]:
            time.sleep(1)  # another process builds it: its index is invalid until the build ends
            found = self._index_state()
        if found is not None and found[0]:
            return
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {partition}")
            memory_mb = self.index_build_memory_mb(int(cursor.fetchone()[0]), int(m))
        # Only integers from our own rows and settings are interpolated: identifiers cannot be parameters.
        target = (
            f"{self.hnsw_index_name} ON {partition} "
            f"USING hnsw ((vector::halfvec({int(self.dimension)})) halfvec_cosine_ops) "
            f"WITH (m = {int(m)}, ef_construction = {int(ef_construction)})"
        )
        if connection.in_atomic_block:
            with connection.cursor() as cursor:
                if found is not None:
                    cursor.execute(f"DROP INDEX {self.hnsw_index_name}")
                cursor.execute(f"SET LOCAL maintenance_work_mem = '{int(memory_mb)}MB'")
                cursor.execute(f"CREATE INDEX {target}")
            return
        with _direct_connection() as direct:
            if found is not None:
                logger.warning("%s was left invalid by an interrupted build: building it again", self.hnsw_index_name)
                direct.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {self.hnsw_index_name}")
            # The connection is this build's alone: the session's setting ends with it.
            direct.execute(f"SET maintenance_work_mem = '{int(memory_mb)}MB'")
            direct.execute(f"CREATE INDEX CONCURRENTLY {target}")

    def _index_state(self) -> tuple[bool, bool] | None:
        """(valid, being built) of this model's HNSW index; None where there is none."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.indisvalid, EXISTS (SELECT 1 FROM pg_stat_progress_create_index p "
                "WHERE p.index_relid = i.indexrelid) "
                "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace",
                [self.hnsw_index_name],
            )
            row = cursor.fetchone()
        return None if row is None else (bool(row[0]), bool(row[1]))

    def drop_index(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {self.hnsw_index_name}")


class ArtworkEmbedding(models.Model):
    """One artwork's L2-normalised image vector under one model."""

    artwork = models.ForeignKey(Artwork, on_delete=models.CASCADE, related_name="embeddings")
    model = models.ForeignKey(EmbeddingModel, on_delete=models.CASCADE, related_name="embeddings")
    # No fixed dimension: each model's rows are cast to its own dimension by its partition's HNSW index.
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


@receiver(pre_delete, sender=EmbeddingModel)
def drop_partition_of_deleted_model(sender: type[EmbeddingModel], instance: EmbeddingModel, **kwargs: Any) -> None:
    """Drop a deleted model's vectors with their partition: the cascade then finds none to delete row by row."""
    instance.drop_partition()


@contextmanager
def _direct_connection() -> Iterator[psycopg.Connection[Any]]:
    """A connection of its own, in autocommit, to PostgreSQL itself: DATABASE_DIRECT_URL, or the default
    database's where that is not set (a pooler in transaction mode would split a session's statements)."""
    if settings.DATABASE_DIRECT_URL:
        timeout = connection.settings_dict["OPTIONS"].get("connect_timeout")
        direct = psycopg.connect(settings.DATABASE_DIRECT_URL, autocommit=True, connect_timeout=timeout)
    else:
        direct = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    try:
        yield direct
    finally:
        direct.close()
