"""Suggestion trigrams without accents: "durer" suggests Albrecht Dürer, and "dürer" a Durer.

catalog_trigrams reads its text through catalog_unaccent (migration 0011), and catalog_typed_trigrams
the visitor's text the same way. The trigram columns are generated from catalog_trigrams, so they are
dropped and added again for PostgreSQL to compute every row anew (a rewrite of the artwork table, as
in 0011, holding its lock until the migration commits), with their GIN indexes.
"""

import catalog.models
import django.contrib.postgres.fields
import django.contrib.postgres.indexes
from django.db import migrations, models


def _trigram_functions(text: str) -> str:
    """catalog_trigrams and catalog_typed_trigrams (migration 0010), reading ``text``: an expression of $1."""
    return f"""
CREATE OR REPLACE FUNCTION catalog_trigrams(text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT coalesce(array_agg(DISTINCT substr(padded, i, 3)), '{{}}')
FROM regexp_split_to_table(lower({text}), '[^[:alnum:]]+') AS word,
     LATERAL (SELECT '  ' || word || ' ' AS padded) AS p,
     LATERAL generate_series(1, length(padded) - 2) AS i
WHERE word <> '' $$;
CREATE OR REPLACE FUNCTION catalog_typed_trigrams(text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT array_remove(catalog_trigrams($1),
    right('  ' || lower(substring({text} from '([[:alnum:]]*)$')) || ' ', 3)) $$
"""


def _trigram_fields():
    artist = catalog.models.Trigrams(
        catalog.models.SplitPart(
            catalog.models.SplitPart("artist_display", models.Value("\n"), models.Value(1)),
            models.Value(" ("),
            models.Value(1),
        )
    )
    text_array = django.contrib.postgres.fields.ArrayField(base_field=models.TextField(), size=None)
    return (
        ("artist_trigrams", models.GeneratedField(db_persist=True, expression=artist, output_field=text_array)),
        (
            "title_trigrams",
            models.GeneratedField(
                db_persist=True, expression=catalog.models.Trigrams("title"), output_field=text_array
            ),
        ),
    )


INDEXES = (("title_trigrams", "artwork_title_trigrams_gin"), ("artist_trigrams", "artwork_artist_trigrams_gin"))


# Dropped, then added again, so that PostgreSQL computes each row's trigrams anew.
DROP = [
    *(migrations.RemoveIndex(model_name="artwork", name=name) for _, name in INDEXES),
    *(migrations.RemoveField(model_name="artwork", name=field) for field, _ in INDEXES),
]
ADD = [
    *(migrations.AddField(model_name="artwork", name=name, field=field) for name, field in _trigram_fields()),
    *(
        migrations.AddIndex(
            model_name="artwork",
            index=django.contrib.postgres.indexes.GinIndex(fields=[field], fastupdate=False, name=name),
        )
        for field, name in INDEXES
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0012_artist_title_and_facet_indexes"),
    ]

    operations = [
        *DROP,
        migrations.RunSQL(
            _trigram_functions("catalog_unaccent(left($1, 1000))"),
            reverse_sql=_trigram_functions("left($1, 1000)"),  # as migration 0010 made them
        ),
        *ADD,
    ]
