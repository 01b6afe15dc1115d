"""The full-text document PostgreSQL keeps for every artwork: weighted fields, and safe with huge records."""

from __future__ import annotations

import random

import pytest

from catalog.models import Artwork
from search.keyword import text_matches

pytestmark = pytest.mark.django_db


def _distinct_words(characters: int, seed: int) -> str:
    """Text of distinct words (many multibyte), the worst case for the size of a tsvector."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyzéøßæœçñ漢字かな" + "".join(map(chr, range(0x430, 0x438)))  # and Cyrillic
    words: list[str] = []
    size = 0
    while size < characters:
        word = "".join(rng.choice(letters) for _ in range(rng.randint(3, 7)))
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:characters]


def test_it_indexes_a_record_whose_every_text_field_is_a_million_characters() -> None:
    # (department_title has a B-tree index of its own, which holds at most a few kilobytes.)
    huge = _distinct_words(1_000_000, seed=1)
    fields = {
        name: huge
        for name in (
            "artist_display",
            "description_override",
            "description",
            "short_description",
            "alt_text",
            "medium_display",
            "place_of_origin",
            "artwork_type_title",
        )
    }
    Artwork.objects.create(
        aic_id=1,
        title="Nocturne in blue " + huge,
        content_hash="x",
        subject_titles=[huge, huge],
        term_titles=[huge],
        **fields,
    )
    assert [artwork.aic_id for artwork, _ in text_matches("nocturne", 5)] == [1]


def test_a_word_in_the_title_outweighs_the_same_word_in_the_description() -> None:
    Artwork.objects.create(aic_id=1, title="Harbour", content_hash="a")
    Artwork.objects.create(aic_id=2, title="Boats", description="A harbour at dawn.", content_hash="b")
    Artwork.objects.create(aic_id=3, title="Portrait", artist_display="Harbour Painter", content_hash="c")
    assert [artwork.aic_id for artwork, _ in text_matches("harbours", 5)] == [1, 3, 2]
    curated = Artwork.objects.get(aic_id=2)
    curated.description_override = "Fishing boats in the mist."
    curated.save()
    assert [artwork.aic_id for artwork, _ in text_matches("mist", 5)] == [2]
