"""Suggestions as a visitor types: artists and titles whose words hold the typed letters, in one query.

Both sides match on trigrams (catalog migration 0010: a GIN-indexed text[] of each title and artist
name). The last word typed counts as a prefix: "mon" is the start of "Monet", so its closing trigram
("on ") is left out. A name or title matches when it holds at least ``MATCH_SHARE`` of the query's
trigrams, so a misspelling ("monett") still finds it. Those that start with the typed text, or have a
word that does, come first; then the share held, then the share of the name it covers (the closest
fit), then the shorter. Accents do not count (catalog migration 0013): "durer" finds Dürer. Only
visible artworks count (neither hidden nor withdrawn).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.urls import reverse
from django.utils.http import urlencode

from search.types import SearchError

MIN_QUERY_LENGTH = 2
MAX_QUERY_LENGTH = 100
LIMIT = 8
# The share of the query's trigrams a name must hold, as pg_trgm's word_similarity_threshold.
MATCH_SHARE = 0.6
LABEL_MAX_LENGTH = 200
# How long a browser or a shared cache may keep an answer: a new artwork shows up after it.
MAX_AGE_SECONDS = 300

# catalog_typed_trigrams and catalog_trigram_keys (catalog migration 0010) are IMMUTABLE: with the
# text given, the planner computes them once and sizes the index scans from the keys.
SUGGEST_SQL = """
WITH titles AS (
    SELECT 'title' AS kind, a.title AS label, a.aic_id, a.artist_display AS artist, a.title_trigrams AS trigrams
    FROM catalog_artwork AS a
    WHERE a.title_trigrams && catalog_trigram_keys(%(q)s) AND NOT a.is_hidden AND a.withdrawn_at IS NULL
),
artists AS (
    SELECT 'artist' AS kind, split_part(split_part(a.artist_display, E'\\n', 1), ' (', 1) AS label,
           NULL::integer AS aic_id, '' AS artist, a.artist_trigrams AS trigrams
    FROM catalog_artwork AS a
    WHERE a.artist_trigrams && catalog_trigram_keys(%(q)s) AND NOT a.is_hidden AND a.withdrawn_at IS NULL
    GROUP BY 2, a.artist_trigrams
),
scored AS (
    SELECT kind, label, aic_id, artist,
           shared::float8 / greatest(cardinality(catalog_typed_trigrams(%(q)s)), 1) AS score,
           shared::float8 / greatest(cardinality(trigrams), 1) AS fit,
           strpos(' ' || lower(catalog_unaccent(label)), ' ' || lower(catalog_unaccent(%(q)s))) > 0 AS word_prefix
    FROM (SELECT * FROM titles UNION ALL SELECT * FROM artists) AS candidate,
         LATERAL (
             SELECT count(*) AS shared FROM unnest(trigrams) AS gram WHERE gram = ANY (catalog_typed_trigrams(%(q)s))
         ) AS held
    WHERE label <> ''
)
SELECT kind, left(label, %(label_max)s), aic_id, split_part(split_part(artist, E'\\n', 1), ' (', 1), score
FROM scored
WHERE score >= %(share)s
ORDER BY word_prefix DESC, score DESC, fit DESC, length(label), label, aic_id
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class Suggestion:
    kind: str  # "artist" or "title"
    label: str  # the artist's name or the artwork's title
    url: str  # a search for the artist, or the artwork's page
    aic_id: int | None  # the artwork of a title
    artist: str  # the artist of a title, as the record shows it ("" for an artist)


def typed_text(raw: str) -> str:
    """The text to suggest for, whitespace collapsed; SearchError (400) when empty, too short or too long.

    Control and format characters count as spaces: PostgreSQL refuses a NUL in text.
    """
    text = " ".join("".join(char if char.isprintable() else " " for char in raw).split())
    if not text:
        raise SearchError("q must not be empty")
    if len(text) > MAX_QUERY_LENGTH:
        raise SearchError(f"q is longer than {MAX_QUERY_LENGTH} characters")
    if len(text) < MIN_QUERY_LENGTH:
        raise SearchError(f"q must have at least {MIN_QUERY_LENGTH} characters")
    return text


def query_params(text: str, limit: int = LIMIT) -> dict[str, str | int | float]:
    return {"q": text, "share": MATCH_SHARE, "limit": limit, "label_max": LABEL_MAX_LENGTH}


def suggest(text: str, limit: int = LIMIT) -> list[Suggestion]:
    """At most ``limit`` artists and titles for ``text`` (from ``typed_text``), best first, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(SUGGEST_SQL, query_params(text, limit))
        rows = cursor.fetchall()
    suggestions = []
    for kind, label, aic_id, artist, _score in rows:
        search = f"{reverse('index')}?{urlencode({'q': label})}"
        url = search if kind == "artist" else reverse("artwork", args=[aic_id])
        suggestions.append(Suggestion(kind=kind, label=label, url=url, aic_id=aic_id, artist=artist))
    return suggestions
