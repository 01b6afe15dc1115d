"""Over a few thousand artworks the suggestion query finds its candidates through the GIN trigram
indexes on titles and artist names, not by reading every row, and still finds a misspelt name."""

from __future__ import annotations

import json
import random
import time

import pytest
from django.db import connection

from catalog.models import Artwork
from search import suggestions

pytestmark = pytest.mark.django_db(transaction=True)

ARTWORKS = 5000
SYLLABLES = [c + v for c in "bdfgklprstvz" for v in "aeiou"]


def _word(chooser: random.Random) -> str:
    """A made-up word of two to four syllables: a collection's spread of distinct trigrams."""
    return "".join(chooser.choice(SYLLABLES) for _ in range(chooser.randint(2, 4)))


def _plan(text: str) -> dict[str, object]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + suggestions.SUGGEST_SQL, suggestions.query_params(text))
        plan: dict[str, object] = cursor.fetchone()[0][0]
    return plan


def test_the_query_walks_the_trigram_indexes(db: None) -> None:
    chooser = random.Random(7)
    Artwork.objects.bulk_create(
        Artwork(
            aic_id=index + 1,
            title=" ".join(_word(chooser) for _ in range(3)).capitalize(),
            artist_display=f"{_word(chooser).title()} {_word(chooser).title()}\nEuropean, 1850-1920",
            # About as long as a harvested record's description: the rows a sequential scan would read.
            description=" ".join(_word(chooser) for _ in range(120)),
            content_hash=str(index),
        )
        for index in range(ARTWORKS)
    )
    Artwork.objects.create(aic_id=ARTWORKS + 1, title="Water Lilies", artist_display="Claude Monet", content_hash="m")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_artwork")

    found = suggestions.suggest("monett")
    assert [s.label for s in found if s.kind == "artist"] == ["Claude Monet"]
    typed = ["mo", "mon", "mone", "monet", "monett", "ba", "bad", "badi", "ka", "kal"]
    timings = []
    for text in typed:
        started = time.perf_counter()
        suggestions.suggest(text)
        timings.append(time.perf_counter() - started)

    plan = json.dumps(_plan("monett"))
    assert "artwork_title_trigrams_gin" in plan
    assert "artwork_artist_trigrams_gin" in plan
    assert '"Node Type": "Seq Scan"' not in plan
    timings.sort()
    print(
        f"suggestions over {ARTWORKS + 1} artworks: median {timings[len(timings) // 2] * 1000:.1f} ms, worst {timings[-1] * 1000:.1f} ms"
    )
