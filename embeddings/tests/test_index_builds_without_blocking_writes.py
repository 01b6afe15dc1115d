"""A model's HNSW index is built concurrently: its vectors can be written while it builds, and an index an
interrupted build left invalid is built again."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
from django.db import connection

from catalog.models import Artwork
from embeddings.models import ArtworkEmbedding, EmbeddingModel
from search.vector import vector_neighbours

pytestmark = pytest.mark.django_db(transaction=True)


def _connect(*, autocommit: bool) -> psycopg.Connection[Any]:
    return psycopg.connect(**connection.get_connection_params(), autocommit=autocommit)


def _index_state(name: str) -> tuple[int, bool] | None:
    """(oid, valid) of the index, or None where there is none."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexrelid::int, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s",
            [name],
        )
        row = cursor.fetchone()
    return None if row is None else (int(row[0]), bool(row[1]))


def _build_waiting(model: EmbeddingModel, timeout: float = 30.0) -> int:
    """The server process building the model's index, once it waits for the open write to end."""
    deadline = time.monotonic() + timeout
    with _connect(autocommit=True) as observer:
        while time.monotonic() < deadline:
            row = observer.execute(
                "SELECT pid FROM pg_stat_activity WHERE query ILIKE 'CREATE INDEX%%' AND query LIKE %s "
                "AND wait_event_type = 'Lock'",
                [f"% {model.hnsw_index_name} ON %"],
            ).fetchone()
            if row is not None:
                return int(row[0])
            time.sleep(0.05)
    raise AssertionError(f"no build of {model.hnsw_index_name} waited within {timeout}s")


class Build(threading.Thread):
    """``ensure_index`` in a thread of its own (with its own database connection)."""

    def __init__(self, model: EmbeddingModel) -> None:
        super().__init__(daemon=True)
        self.model = model
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.model.ensure_index()
        except BaseException as exc:  # handed to the test
            self.error = exc
        finally:
            connection.close()


@pytest.fixture
def writer_in_a_transaction(
    indexed: list[Artwork], embedding_model: EmbeddingModel
) -> Iterator[psycopg.Connection[Any]]:
    """A connection with a write to the model's vectors not yet committed: a build waits for it before it
    reads the vectors, which holds the build open for as long as the test needs."""
    embedding_model.drop_index()
    holder = _connect(autocommit=False)
    holder.execute(
        "UPDATE embeddings_artworkembedding SET image_id = image_id WHERE model_id = %s AND artwork_id = %s",
        [embedding_model.pk, indexed[1].pk],
    )
    yield holder
    holder.rollback()
    holder.close()


def test_vectors_are_written_while_the_index_builds(
    indexed: list[Artwork], embedding_model: EmbeddingModel, writer_in_a_transaction: psycopg.Connection[Any]
) -> None:
    vector = np.asarray(ArtworkEmbedding.objects.get(artwork=indexed[0], model=embedding_model).vector)
    ArtworkEmbedding.objects.filter(artwork=indexed[0], model=embedding_model).delete()
    other = EmbeddingModel.objects.create(name="other", architecture="museum-micro", dimension=len(vector))
    build = Build(embedding_model)
    build.start()
    _build_waiting(embedding_model)

    with _connect(autocommit=True) as writer:
        # A build that locked the model's vectors would hold these inserts past their lock timeout.
        writer.execute("SET lock_timeout = '2s'")
        for model in (embedding_model, other):
            writer.execute(
                "INSERT INTO embeddings_artworkembedding "
                "(artwork_id, model_id, vector, image_id, created_at, updated_at) "
                "VALUES (%s, %s, %s::vector, %s, now(), now())",
                [indexed[0].pk, model.pk, str(vector.tolist()), indexed[0].image_id],
            )
    assert build.is_alive()  # the inserts went in during the build, not after it
    assert ArtworkEmbedding.objects.filter(model=other).count() == 1

    writer_in_a_transaction.commit()
    build.join(60)
    assert build.error is None
    state = _index_state(embedding_model.hnsw_index_name)
    assert state is not None and state[1]
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # twelve rows: only a usable index beats a scan
        plan = (
            ArtworkEmbedding.objects.filter(model=embedding_model)
            .order_by(embedding_model.index_distance(vector))[:3]
            .explain()
        )
        cursor.execute("RESET enable_seqscan")
    assert embedding_model.hnsw_index_name in plan
    assert vector_neighbours(embedding_model, vector, 1)[0][0].pk == indexed[0].pk


def test_an_index_left_invalid_by_an_interrupted_build_is_built_again(
    indexed: list[Artwork], embedding_model: EmbeddingModel, writer_in_a_transaction: psycopg.Connection[Any]
) -> None:
    build = Build(embedding_model)
    build.start()
    pid = _build_waiting(embedding_model)
    with _connect(autocommit=True) as admin:
        admin.execute("SELECT pg_cancel_backend(%s)", [pid])
    build.join(30)
    assert isinstance(build.error, psycopg.errors.QueryCanceled)
    writer_in_a_transaction.commit()
    left = _index_state(embedding_model.hnsw_index_name)
    assert left is not None and not left[1]

    embedding_model.ensure_index()

    rebuilt = _index_state(embedding_model.hnsw_index_name)
    assert rebuilt is not None and rebuilt[1] and rebuilt[0] != left[0]
    vector = np.asarray(ArtworkEmbedding.objects.get(artwork=indexed[2], model=embedding_model).vector)
    assert vector_neighbours(embedding_model, vector, 1)[0][0].pk == indexed[2].pk


def test_the_build_memory_holds_the_graph_up_to_the_setting(embedding_model: EmbeddingModel, settings: Any) -> None:
    settings.HNSW_BUILD_MEMORY_MB = 4096
    small = embedding_model.index_build_memory_mb(1_000, 16)
    large = embedding_model.index_build_memory_mb(1_000_000, 16)
    denser = embedding_model.index_build_memory_mb(1_000_000, 32)
    assert small == 64  # never below PostgreSQL's own default for maintenance
    assert small < large < denser <= 4096
    settings.HNSW_BUILD_MEMORY_MB = 256
    assert embedding_model.index_build_memory_mb(1_000_000, 16) == 256
