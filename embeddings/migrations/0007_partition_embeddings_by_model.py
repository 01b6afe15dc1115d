"""The embeddings table partitioned by model: one partition of each model's vectors, each with its HNSW index.

A model's vectors and graph then live in a table of their own: pruning a model drops its partition
instead of deleting its rows one by one, an index build locks only its own model's rows, and search
reads the one partition its ``model_id`` names. The rows are copied into the new table, so the
migration takes about as long as writing the table again plus building each model's graph again
(docs/database.md, Partitions). The primary key becomes (id, model_id): a partitioned table's unique
keys must hold its partition key; ``id`` still comes from one sequence, and stays unique.

Going back copies the rows into one table again, with each model's index partial on its model_id.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.db import migrations

TABLE = "embeddings_artworkembedding"
PARTITION_PREFIX = "embeddings_artworkembedding_m"
TARGET = re.compile(r" ON (?:ONLY )?\S+ USING ")
PARTIAL = re.compile(r" WHERE \(model_id = (\d+)\)$")


def _constraints(cursor: Any, table: str) -> list[tuple[str, str, str]]:
    """(name, type, definition) of the table's constraints but NOT NULL (which LIKE copies)."""
    cursor.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype <> 'n' ORDER BY contype = 'f', conname",
        [table],
    )
    return [(str(name), str(kind), str(definition)) for name, kind, definition in cursor.fetchall()]


def _plain_indexes(cursor: Any, table: str) -> list[str]:
    """Definitions of the table's indexes that back no constraint and are no model's HNSW graph."""
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid)",
        [table],
    )
    return [str(definition) for name, definition in cursor.fetchall() if not name.startswith("artwork_embedding_hnsw_")]


def _add_constraints(schema_editor: Any, cursor: Any, constraints: list[tuple[str, str, str]], primary: str) -> None:
    for name, kind, definition in constraints:
        clause = primary if kind == "p" else definition
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {schema_editor.quote_name(name)} {clause}")


def _build(cursor: Any, definition: str) -> None:
    cursor.execute(f"SET LOCAL maintenance_work_mem = '{int(settings.HNSW_BUILD_MEMORY_MB)}MB'")
    cursor.execute(definition)


def partition(apps: Any, schema_editor: Any) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
            "AND indexname LIKE 'artwork_embedding_hnsw_%%'",
            [TABLE],
        )
        graphs = [str(row[0]) for row in cursor.fetchall()]
        constraints = _constraints(cursor, TABLE)
        # An index on model_id alone tells nothing inside a partition of one model.
        indexes = [sql for sql in _plain_indexes(cursor, TABLE) if not sql.endswith("USING btree (model_id)")]

        cursor.execute(f"CREATE TABLE {TABLE}_partitioned (LIKE {TABLE} INCLUDING STORAGE) PARTITION BY LIST (model_id)")
        cursor.execute(f"SELECT id FROM embeddings_embeddingmodel UNION SELECT DISTINCT model_id FROM {TABLE}")
        models = {int(model_id) for (model_id,) in cursor.fetchall()}
        for model_id in sorted(models):
            cursor.execute(
                f"CREATE TABLE {PARTITION_PREFIX}{int(model_id)} PARTITION OF {TABLE}_partitioned "
                f"FOR VALUES IN ({int(model_id)})"
            )
        cursor.execute(f"INSERT INTO {TABLE}_partitioned SELECT * FROM {TABLE}")
        cursor.execute(f"DROP TABLE {TABLE}")
        cursor.execute(f"ALTER TABLE {TABLE}_partitioned RENAME TO {TABLE}")

        # A partitioned table's identity column needs PostgreSQL 17: a sequence of its own serves any.
        cursor.execute(f"CREATE SEQUENCE {TABLE}_id_seq OWNED BY {TABLE}.id")
        cursor.execute(f"SELECT setval('{TABLE}_id_seq', coalesce(max(id), 1), max(id) IS NOT NULL) FROM {TABLE}")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{TABLE}_id_seq')")

        _add_constraints(schema_editor, cursor, constraints, "PRIMARY KEY (id, model_id)")
        for definition in indexes:
            cursor.execute(TARGET.sub(f" ON {TABLE} USING ", definition))
        for definition in graphs:
            partial = PARTIAL.search(definition)
            if partial is None or int(partial.group(1)) not in models:
                continue  # the graph of a model deleted since, which searched nothing
            whole = PARTIAL.sub("", definition)
            _build(cursor, TARGET.sub(f" ON {PARTITION_PREFIX}{int(partial.group(1))} USING ", whole))


def unpartition(apps: Any, schema_editor: Any) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef, tablename FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename LIKE %s AND indexname LIKE 'artwork_embedding_hnsw_%%'",
            [PARTITION_PREFIX + "%"],
        )
        graphs = [(str(definition), str(table)) for definition, table in cursor.fetchall()]
        constraints = _constraints(cursor, TABLE)
        indexes = _plain_indexes(cursor, TABLE)

        cursor.execute(f"CREATE TABLE {TABLE}_plain (LIKE {TABLE} INCLUDING STORAGE)")
        cursor.execute(f"INSERT INTO {TABLE}_plain SELECT * FROM {TABLE}")
        cursor.execute(f"DROP TABLE {TABLE} CASCADE")  # its partitions and its sequence with it
        cursor.execute(f"ALTER TABLE {TABLE}_plain RENAME TO {TABLE}")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY")
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), coalesce(max(id), 1), max(id) IS NOT NULL) "
            f"FROM {TABLE}"
        )

        _add_constraints(schema_editor, cursor, constraints, "PRIMARY KEY (id)")
        for definition in indexes:
            cursor.execute(TARGET.sub(f" ON {TABLE} USING ", definition))
        embedding = apps.get_model("embeddings", "ArtworkEmbedding")
        schema_editor.execute(schema_editor._create_index_sql(embedding, fields=[embedding._meta.get_field("model")]))
        for definition, table in graphs:
            model_id = int(table.removeprefix(PARTITION_PREFIX))
            _build(cursor, TARGET.sub(f" ON {TABLE} USING ", definition) + f" WHERE (model_id = {model_id})")


class Migration(migrations.Migration):
    dependencies = [("embeddings", "0006_model_permissions")]

    operations = [migrations.RunPython(partition, unpartition)]
