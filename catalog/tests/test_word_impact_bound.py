"""The bound that spares the keyword lists' triggers from ranking a word (catalog_word_impact_bound)
is never below the word's real impact, and is the impact itself for a word written once."""

from __future__ import annotations

import random

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

WORDS = ["sea", "storm", "night", "harbour", "ship", "wave", "moon", "light", "cliff", "river", "portrait", "garden"]


def _text(rng: random.Random, length: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(length))


def test_the_bound_holds_for_every_word_of_random_documents_and_is_exact_for_one_position() -> None:
    rng = random.Random(7)
    parts = [(_text(rng, rng.randint(0, 4)), _text(rng, rng.randint(0, 6)), _text(rng, rng.randint(0, 40)))
             for _ in range(300)]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT cardinality(held.positions), catalog_word_impact(document, held.lexeme),
                   catalog_word_impact_bound(held.positions, held.weights)
            FROM unnest(%s::text[], %s::text[], %s::text[]) AS part(title, artist, description)
            CROSS JOIN LATERAL (
                SELECT setweight(to_tsvector('english', part.title), 'A')
                    || setweight(to_tsvector('english', part.artist), 'B')
                    || setweight(to_tsvector('english', part.description), 'D') AS document
            ) AS built
            CROSS JOIN LATERAL unnest(built.document) AS held(lexeme, positions, weights)
            """,
            [[p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts]],
        )
        rows = cursor.fetchall()
    counts = {count for count, _, _ in rows}
    assert {1, 2, 3, 4} <= counts and max(counts) > 10  # every branch of the bound is exercised
    for count, impact, bound in rows:
        assert impact <= bound, (count, impact, bound)
        if count == 1:
            assert bound - impact < 1e-3  # tight: a word written once is ranked only if it can reach the floor
