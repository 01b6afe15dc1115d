"""Upgrading rebuilds each model's float32 HNSW index over half-precision vectors, keeping its parameters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

from catalog.models import Artwork
from embeddings.models import ArtworkEmbedding
from search.vector import vector_neighbours

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("embeddings", "0002_vectors_inline")
AFTER = ("embeddings", "0003_half_precision_index")


def _definition(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
        row = cursor.fetchone()
    assert row is not None, f"no index {name}"
    return str(row[0])


def _migrate(target: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([target])


@pytest.fixture
def back_to_the_latest() -> Any:
    yield
    MigrationExecutor(connection).migrate(MigrationLoader(connection).graph.leaf_nodes())


def test_an_upgrade_rebuilds_the_index_in_half_precision(
    indexed: list[Artwork], embedding_model: Any, back_to_the_latest: None
) -> None:
    embedding_model.drop_index()
    embedding_model.ensure_index(m=8, ef_construction=40)
    name = embedding_model.hnsw_index_name
    dimension = embedding_model.dimension
    assert f"((vector)::halfvec({dimension})) halfvec_cosine_ops" in _definition(name)

    _migrate(BEFORE)  # the index as releases before this one built it
    old = _definition(name)
    assert f"((vector)::vector({dimension})) vector_cosine_ops" in old

    _migrate(AFTER)
    new = _definition(name)
    assert f"((vector)::halfvec({dimension})) halfvec_cosine_ops" in new
    for kept in ("m='8'", "ef_construction='40'", f"WHERE (model_id = {embedding_model.pk})"):
        assert kept in old and kept in new

    vector = np.asarray(ArtworkEmbedding.objects.get(artwork=indexed[4], model=embedding_model).vector)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")  # 30 rows: only a usable index beats a sort
        plan = (
            ArtworkEmbedding.objects.filter(model=embedding_model)
            .order_by(embedding_model.index_distance(vector))[:5]
            .explain()
        )
        found = vector_neighbours(embedding_model, vector, 5)
    assert name in plan
    assert found[0][0].pk == indexed[4].pk
    assert found[0][1] == pytest.approx(1.0, abs=1e-6)  # scored in float32, not the index's half precision
