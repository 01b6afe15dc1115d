"""Each model's HNSW index rebuilt over half-precision vectors (the index a model now builds).

Search orders by the halfvec distance, which only the rebuilt index serves, so every existing
index is rebuilt here, with its own m, ef_construction and model. Building takes minutes for a
large collection, a little less than the float32 build took (``bench.search --n 1000000``).
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.db import migrations

FLOAT32 = re.compile(r"\(\(vector\)::vector\((\d+)\)\) vector_cosine_ops")
HALF = re.compile(r"\(\(vector\)::halfvec\((\d+)\)\) halfvec_cosine_ops")


def _rebuild(schema_editor: Any, old: re.Pattern[str], new: str) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'artwork_embedding_hnsw_%%'")
        for name, definition in cursor.fetchall():
            if not old.search(definition):
                continue
            cursor.execute(f"SET LOCAL maintenance_work_mem = '{int(settings.HNSW_BUILD_MEMORY_MB)}MB'")
            cursor.execute(f"DROP INDEX {schema_editor.quote_name(name)}")
            cursor.execute(old.sub(new, definition))


def to_half_precision(apps: Any, schema_editor: Any) -> None:
    _rebuild(schema_editor, FLOAT32, r"((vector)::halfvec(\1)) halfvec_cosine_ops")


def to_float32(apps: Any, schema_editor: Any) -> None:
    _rebuild(schema_editor, HALF, r"((vector)::vector(\1)) vector_cosine_ops")


class Migration(migrations.Migration):
    dependencies = [("embeddings", "0002_vectors_inline")]

    operations = [migrations.RunPython(to_half_precision, to_float32)]
