"""Vectors stored in the table's own rows, not in its TOAST table.

A 512-d vector (2,052 bytes) is just over PostgreSQL's 2 KB TOAST threshold, and pgvector's type
stores out of line by default: reading one then costs a lookup in the TOAST index and a second
page. Exact searches read every candidate's vector, several times faster from the row itself
(``bench.search``, exact scans of selective filters). MAIN keeps a vector in its row (after a compression attempt that
fails fast on float data) and moves it out only if the row would not fit a page. The image id
goes MAIN too: in a row over the threshold PostgreSQL would otherwise move any text longer than a
TOAST pointer (an image id's 36 characters) out of line. Rows already stored stay as they are until
they are written again.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("embeddings", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE embeddings_artworkembedding "
            "ALTER COLUMN vector SET STORAGE MAIN, ALTER COLUMN image_id SET STORAGE MAIN",
            reverse_sql="ALTER TABLE embeddings_artworkembedding "
            "ALTER COLUMN vector SET STORAGE EXTERNAL, ALTER COLUMN image_id SET STORAGE EXTENDED",
        ),
    ]
