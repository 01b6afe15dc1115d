"""Each model's HNSW index rebuilt with the ef_construction of ``HNSW_EF_CONSTRUCTION`` where it was built lower.

A graph built with a wider candidate list during construction reaches the same recall with a
narrower one during search, so ``HNSW_EF_SEARCH``'s default dropped along with the build's
default rising (``bench.index_precision`` and ``bench.search`` measure recall); an index built before would lose recall under the
new search setting, so it is rebuilt here, keeping its m, expression and model. Building takes
minutes for a large collection. Going back keeps the denser graph: it serves the old settings too.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.db import migrations

EF_CONSTRUCTION = re.compile(r"ef_construction='?(\d+)'?")


def rebuild_sparser_graphs(apps: Any, schema_editor: Any) -> None:
    wanted = int(settings.HNSW_EF_CONSTRUCTION)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'artwork_embedding_hnsw_%%'")
        for name, definition in cursor.fetchall():
            built = EF_CONSTRUCTION.search(definition)
            if built is None or int(built.group(1)) >= wanted:
                continue
            cursor.execute(f"SET LOCAL maintenance_work_mem = '{int(settings.HNSW_BUILD_MEMORY_MB)}MB'")
            cursor.execute(f"DROP INDEX {schema_editor.quote_name(name)}")
            cursor.execute(EF_CONSTRUCTION.sub(f"ef_construction='{wanted}'", definition))


class Migration(migrations.Migration):
    dependencies = [("embeddings", "0003_half_precision_index")]

    operations = [migrations.RunPython(rebuild_sparser_graphs, migrations.RunPython.noop)]
