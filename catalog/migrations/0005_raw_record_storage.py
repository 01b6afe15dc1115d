"""How PostgreSQL stores the raw AIC record (a few KB of jsonb per artwork).

PostgreSQL's default compression, pglz, cost a large share of the database's work per imported
record (``bench.harvest``, importing the same records both ways). lz4 compresses about as well at a
fraction of that, so a server built with lz4 uses it. A server without lz4 (the embedded one) keeps
the record uncompressed, out of line: about twice the space of a compressed one, which a museum's
server affords better than slower harvests. Only values written from now on change; stored ones stay
as they are.
"""

from django.db import migrations

CHOOSE_STORAGE = """
DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)
    ) THEN
        ALTER TABLE catalog_artwork ALTER COLUMN raw SET COMPRESSION lz4;
    ELSE
        ALTER TABLE catalog_artwork ALTER COLUMN raw SET STORAGE EXTERNAL;
    END IF;
END $$;
"""

DEFAULT_STORAGE = """
ALTER TABLE catalog_artwork ALTER COLUMN raw SET STORAGE EXTENDED;
ALTER TABLE catalog_artwork ALTER COLUMN raw SET COMPRESSION DEFAULT;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_word_leaders"),
    ]

    operations = [migrations.RunSQL(CHOOSE_STORAGE, DEFAULT_STORAGE)]
