"""Each model's vectors are a partition of the embeddings table: the upgrade moves existing vectors into
them, search walks the partition's own index, and pruning or deleting a model drops its partition."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

from catalog.models import Artwork
from embeddings.activation.pruning import prune_vectors
from embeddings.models import ArtworkEmbedding, EmbeddingModel
from search.vector import vector_neighbours

pytestmark = pytest.mark.django_db(transaction=True)

TABLE = "embeddings_artworkembedding"
BEFORE = ("embeddings", "0006_model_permissions")
AFTER = ("embeddings", "0007_partition_embeddings_by_model")


def _one(sql: str, params: list[Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        row = cursor.fetchone()
    return None if row is None else row[0]


def _kind(table: str) -> str | None:
    """pg_class.relkind: 'p' a partitioned table, 'r' a plain one; None where there is no such table."""
    return _one("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])


def _index_definition(name: str) -> str:
    return str(_one("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name]))


def _rows() -> dict[int, tuple[int, int, str]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, artwork_id, model_id, vector::text FROM {TABLE}")
        return {row[0]: (row[1], row[2], row[3]) for row in cursor.fetchall()}


def _migrate(target: tuple[str, str]) -> None:
    MigrationExecutor(connection).migrate([target])


@pytest.fixture
def back_to_the_latest() -> Any:
    yield
    MigrationExecutor(connection).migrate(MigrationLoader(connection).graph.leaf_nodes())


def _plan(model: EmbeddingModel, vector: np.ndarray) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")  # twelve rows: only a usable index beats a sort
        return str(ArtworkEmbedding.objects.filter(model=model).order_by(model.index_distance(vector))[:5].explain())


def test_the_upgrade_moves_each_models_vectors_and_graph_into_its_partition(
    indexed: list[Artwork], embedding_model: EmbeddingModel, back_to_the_latest: None
) -> None:
    embedding_model.drop_index()
    embedding_model.ensure_index(m=8, ef_construction=40)
    _migrate(BEFORE)  # one table, as releases before this one kept it
    assert _kind(TABLE) == "r" and _kind(embedding_model.partition_name) is None
    before = _rows()
    assert len(before) == len(indexed)
    old = _index_definition(embedding_model.hnsw_index_name)
    assert f"ON public.{TABLE} USING hnsw" in old and f"WHERE (model_id = {embedding_model.pk})" in old

    _migrate(AFTER)

    assert _kind(TABLE) == "p" and _kind(embedding_model.partition_name) == "r"
    assert _rows() == before
    assert _one(f"SELECT count(*) FROM {embedding_model.partition_name}") == len(indexed)
    primary = _one(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'", [TABLE]
    )
    assert primary == "PRIMARY KEY (id, model_id)"
    new = _index_definition(embedding_model.hnsw_index_name)
    assert f"ON public.{embedding_model.partition_name} USING hnsw" in new and "WHERE" not in new
    for kept in ("halfvec_cosine_ops", "m='8'", "ef_construction='40'"):
        assert kept in new

    vector = np.asarray(ArtworkEmbedding.objects.get(artwork=indexed[4], model=embedding_model).vector)
    plan = _plan(embedding_model, vector)
    assert embedding_model.hnsw_index_name in plan  # the partition's own graph
    assert TABLE + "_m" not in plan.replace(embedding_model.partition_name, "")  # and no other partition
    assert vector_neighbours(embedding_model, vector, 5)[0][0].pk == indexed[4].pk
    # Vectors written after the upgrade take ids after the copied ones.
    ArtworkEmbedding.objects.filter(artwork=indexed[0], model=embedding_model).delete()
    again = ArtworkEmbedding.objects.create(artwork=indexed[0], model=embedding_model, vector=vector, image_id="x")
    assert again.pk > max(before)


def test_going_back_keeps_every_vector_and_each_graph_as_a_partial_index(
    indexed: list[Artwork], embedding_model: EmbeddingModel, back_to_the_latest: None
) -> None:
    before = _rows()
    _migrate(BEFORE)

    assert _rows() == before
    assert _index_definition(embedding_model.hnsw_index_name).endswith(f"WHERE (model_id = {embedding_model.pk})")
    vector = np.asarray(ArtworkEmbedding.objects.get(artwork=indexed[2], model=embedding_model).vector)
    assert embedding_model.hnsw_index_name in _plan(embedding_model, vector)
    again = ArtworkEmbedding.objects.filter(artwork=indexed[2], model=embedding_model)
    again.delete()
    assert ArtworkEmbedding.objects.create(
        artwork=indexed[2], model=embedding_model, vector=vector, image_id="x"
    ).pk > max(before)


def test_pruning_a_model_drops_its_partition_and_leaves_an_empty_one(
    indexed: list[Artwork], embedding_model: EmbeddingModel
) -> None:
    EmbeddingModel.objects.filter(pk=embedding_model.pk).update(is_active=False)
    partition = _one("SELECT to_regclass(%s)::oid::int", [embedding_model.partition_name])

    assert prune_vectors(embedding_model) == len(indexed)

    assert _one("SELECT to_regclass(%s)::oid::int", [embedding_model.partition_name]) not in (None, partition)
    assert not ArtworkEmbedding.objects.filter(model=embedding_model).exists()
    assert _one("SELECT to_regclass(%s)", [embedding_model.hnsw_index_name]) is None
    assert Artwork.objects.count() >= len(indexed)


def test_deleting_a_model_deletes_its_vectors_with_its_partition(
    indexed: list[Artwork], embedding_model: EmbeddingModel
) -> None:
    name = embedding_model.partition_name
    EmbeddingModel.objects.filter(pk=embedding_model.pk).delete()

    assert _kind(name) is None
    assert not ArtworkEmbedding.objects.exists()
    assert Artwork.objects.filter(pk__in=[artwork.pk for artwork in indexed]).count() == len(indexed)
    # A model registered afterwards gets a partition of its own, and its vectors go there.
    later = EmbeddingModel.objects.create(
        name="later", architecture="museum-micro", dimension=embedding_model.dimension
    )
    vector = np.ones(embedding_model.dimension, dtype=np.float32) / np.sqrt(embedding_model.dimension)
    ArtworkEmbedding.objects.create(artwork=indexed[0], model=later, vector=vector, image_id="x")
    assert _one(f"SELECT count(*) FROM {later.partition_name}") == 1
