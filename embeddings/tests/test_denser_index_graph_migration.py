"""Upgrading rebuilds an index whose graph was built with a narrower ef_construction than the setting's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

from catalog.models import Artwork
from embeddings.models import ArtworkEmbedding
from search.vector import vector_neighbours

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("embeddings", "0003_half_precision_index")
AFTER = ("embeddings", "0004_denser_index_graphs")


def _index(name: str) -> tuple[int, str]:
    """(oid, definition): a rebuilt index has a new oid."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.oid, i.indexdef FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname "
            "WHERE i.indexname = %s",
            [name],
        )
        row = cursor.fetchone()
    assert row is not None, f"no index {name}"
    return int(row[0]), str(row[1])


def _migrate(target: tuple[str, str]) -> None:
    MigrationExecutor(connection).migrate([target])


def _built_before_the_upgrade(model: Any, settings: Any, *, m: int, ef_construction: int) -> str:
    """The model's index name, built as a release before the upgrade built it (a partial index on the
    one embeddings table); the setting is then 96."""
    settings.HNSW_EF_CONSTRUCTION = 96
    model.drop_index()
    _migrate(BEFORE)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE INDEX {model.hnsw_index_name} ON embeddings_artworkembedding "
            f"USING hnsw ((vector::halfvec({int(model.dimension)})) halfvec_cosine_ops) "
            f"WITH (m = {int(m)}, ef_construction = {int(ef_construction)}) WHERE model_id = {int(model.pk)}"
        )
    return str(model.hnsw_index_name)


@pytest.fixture
def back_to_the_latest() -> Any:
    yield
    leaves = MigrationLoader(connection).graph.leaf_nodes()
    MigrationExecutor(connection).migrate(leaves)


def test_a_sparser_graph_is_rebuilt_keeping_its_m_and_model(
    indexed: list[Artwork], embedding_model: Any, settings: Any, back_to_the_latest: None
) -> None:
    name = _built_before_the_upgrade(embedding_model, settings, m=8, ef_construction=40)
    old_oid, old = _index(name)

    _migrate(AFTER)
    new_oid, new = _index(name)
    assert new_oid != old_oid
    assert new == old.replace("ef_construction='40'", "ef_construction='96'")
    assert "m='8'" in new and f"WHERE (model_id = {embedding_model.pk})" in new

    vector = np.asarray(ArtworkEmbedding.objects.get(artwork=indexed[3], model=embedding_model).vector)
    found = vector_neighbours(embedding_model, vector, 5)
    assert found[0][0].pk == indexed[3].pk


def test_a_graph_as_dense_or_denser_is_left_alone(
    indexed: list[Artwork], embedding_model: Any, settings: Any, back_to_the_latest: None
) -> None:
    before = _index(_built_before_the_upgrade(embedding_model, settings, m=16, ef_construction=96))

    _migrate(AFTER)
    assert _index(embedding_model.hnsw_index_name) == before
