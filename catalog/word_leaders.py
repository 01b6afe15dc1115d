"""Lists of the artworks each frequent word ranks best: the full-text search's champion lists.

The keyword list orders artworks by how many of the query's words they hold, then by ts_rank. When
every artwork still missing holds one word, its ts_rank is that word's impact (ts_rank of the word
alone) divided by the number of query words, so the best of them are the best of each word's own
list. Ranking a common word's matches costs a page visit and a ts_rank each, for every artwork that
holds it (``bench.search`` measures it at a million artworks); a list kept in impact order is read a
page at a time instead.

Every word held by more than KEYWORD_LEADERS_PER_WORD artworks (a ``FrequentWord``) keeps that many
``WordLeader`` rows, hidden artworks included (search filters them as it reads). The list's last
row is its floor. Triggers on the artwork table (migration 0004) keep the promise that every artwork
ranking at or above the floor is listed: an inserted or changed document joins each list it reaches,
a changed or deleted one leaves the lists it was on. With no lists (a new site) the triggers are
off. Lists grow as better artworks arrive; a rebuild trims them and lists the words that have become
frequent since (until then those are ranked in full). A dump import and a full harvest rebuild them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from catalog.models import Artwork, FrequentWord, SyncRun, WordLeader

logger = logging.getLogger(__name__)

_ARTWORKS = Artwork._meta.db_table
_WORDS = FrequentWord._meta.db_table
_LEADERS = WordLeader._meta.db_table
# The artwork table's triggers that keep the lists (migration 0004).
TRIGGERS = (
    "catalog_artwork_word_leaders_insert",
    "catalog_artwork_word_leaders_update",
    "catalog_artwork_word_leaders_delete",
)
_ENABLE_TRIGGERS = f"ALTER TABLE {_ARTWORKS} " + ", ".join(f"ENABLE TRIGGER {name}" for name in TRIGGERS)
_DISABLE_TRIGGERS = f"ALTER TABLE {_ARTWORKS} " + ", ".join(f"DISABLE TRIGGER {name}" for name in TRIGGERS)


@dataclass(frozen=True)
class WordLeaderCounts:
    words: int
    leaders: int
    seconds: float


def rebuild_after_bulk_load(run: SyncRun) -> WordLeaderCounts | None:
    """Rebuild the lists after a dump import or a full harvest that stored records; None otherwise
    (an incremental harvest leaves them to the triggers)."""
    if run.full and (run.created or run.updated):
        return rebuild_word_leaders()
    return None


def rebuild_word_leaders(per_word: int | None = None) -> WordLeaderCounts:
    """List the ``per_word`` (default KEYWORD_LEADERS_PER_WORD) best artworks of every word held by more.

    Writers wait while it runs, so no trigger races the rebuild; searches go on, reading the old
    lists until the new ones commit. The triggers that keep the lists are switched on when there
    are lists, off when there are none.
    """
    per_word = settings.KEYWORD_LEADERS_PER_WORD if per_word is None else per_word
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        # Readers go on; writers, and another rebuild, wait.
        cursor.execute(f"LOCK TABLE {_ARTWORKS} IN SHARE ROW EXCLUSIVE MODE")
        # One sort of every posting of the frequent words (millions at a million artworks).
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute(f"DELETE FROM {_LEADERS}")
        cursor.execute(f"DELETE FROM {_WORDS}")
        if per_word > 0:
            cursor.execute(
                f"INSERT INTO {_WORDS} (lexeme, floor_impact, floor_aic_id) "
                f"SELECT word, 0, 0 FROM ts_stat('SELECT search_document FROM {_ARTWORKS}') WHERE ndoc > %s",
                [per_word],
            )
            cursor.execute(
                f"""
                INSERT INTO {_LEADERS} (lexeme, artwork_id, aic_id, impact)
                SELECT lexeme, id, aic_id, impact FROM (
                    SELECT ranked.*, row_number() OVER (
                        PARTITION BY ranked.lexeme ORDER BY ranked.impact DESC, ranked.aic_id) AS place
                    FROM (
                        SELECT word.lexeme, artwork.id, artwork.aic_id,
                               catalog_word_impact(artwork.search_document, word.lexeme) AS impact
                        FROM {_ARTWORKS} AS artwork
                        CROSS JOIN LATERAL unnest(tsvector_to_array(artwork.search_document)) AS held(lexeme)
                        JOIN {_WORDS} AS word ON word.lexeme = held.lexeme
                    ) AS ranked
                ) AS placed
                WHERE place <= %s
                """,
                [per_word],
            )
            cursor.execute(
                f"""
                UPDATE {_WORDS} AS word SET floor_impact = floor.impact, floor_aic_id = floor.aic_id
                FROM (
                    SELECT DISTINCT ON (lexeme) lexeme, impact, aic_id FROM {_LEADERS}
                    ORDER BY lexeme, impact, aic_id DESC
                ) AS floor
                WHERE floor.lexeme = word.lexeme
                """
            )
        words = FrequentWord.objects.count()
        # The triggers collect every written row of a statement (a transition table, a noticeable share
        # of a first import's time in bench.harvest), so they run only while there are lists to keep.
        cursor.execute(_ENABLE_TRIGGERS if words else _DISABLE_TRIGGERS)
        counts = WordLeaderCounts(words, WordLeader.objects.count(), time.perf_counter() - started)
    logger.info("word leaders rebuilt: %d words, %d rows in %.1f s", counts.words, counts.leaders, counts.seconds)
    return counts
