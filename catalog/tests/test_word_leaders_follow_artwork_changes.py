"""Each frequent word's list holds every artwork that ranks at or above its floor, with the right
impact: after a rebuild, and after artworks are inserted, harvested again, edited and deleted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection

from catalog.harvest import import_dump
from catalog.ingest import IngestCounts, ingest_records
from catalog.models import Artwork, FrequentWord, WordLeader
from catalog.word_leaders import TRIGGERS, rebuild_word_leaders
from conftest import SAMPLE_DIR

pytestmark = pytest.mark.django_db

PER_WORD = 6


@pytest.fixture
def listed() -> None:
    import_dump(SAMPLE_DIR / "records")
    rebuild_word_leaders(PER_WORD)


def _impacts() -> dict[str, list[tuple[float, int, int]]]:
    """For every word the catalog holds: (impact, aic_id, artwork id) of each artwork holding it, best first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT held.lexeme, catalog_word_impact(a.search_document, held.lexeme),"
            " a.aic_id, a.id FROM catalog_artwork a, unnest(tsvector_to_array(a.search_document)) held(lexeme)"
        )
        postings: dict[str, list[tuple[float, int, int]]] = {}
        for lexeme, impact, aic_id, pk in cursor.fetchall():
            postings.setdefault(lexeme, []).append((impact, aic_id, pk))
    return {lexeme: sorted(rows, key=lambda row: (-row[0], row[1])) for lexeme, rows in postings.items()}


def _assert_lists_hold_their_promise() -> dict[str, list[int]]:
    """Every listed row is right and every artwork at or above a word's floor is listed; the lists by word."""
    impacts = _impacts()
    lists: dict[str, list[int]] = {}
    for word in FrequentWord.objects.all():
        rows = {leader.artwork_id: leader for leader in WordLeader.objects.filter(lexeme=word.lexeme)}
        expected = [
            (impact, aic_id, pk)
            for impact, aic_id, pk in impacts.get(word.lexeme, [])
            if impact > word.floor_impact or (impact == word.floor_impact and aic_id <= word.floor_aic_id)
        ]
        assert set(rows) == {pk for _, _, pk in expected}, word.lexeme
        for impact, aic_id, pk in expected:
            assert (rows[pk].impact, rows[pk].aic_id) == (impact, aic_id), word.lexeme
        lists[word.lexeme] = [pk for _, _, pk in expected]
    return lists


def _triggers_on() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname = ANY(%s) AND tgenabled <> 'D'", [list(TRIGGERS)])
        return {row[0] for row in cursor.fetchall()}


def test_the_triggers_run_only_while_there_are_lists_to_keep() -> None:
    rebuild_word_leaders(PER_WORD)  # an empty catalog: no lists (a test before may have left some on)
    assert _triggers_on() == set()
    import_dump(SAMPLE_DIR / "records")
    assert not WordLeader.objects.exists()
    rebuild_word_leaders(PER_WORD)
    assert _triggers_on() == set(TRIGGERS)
    rebuild_word_leaders(0)
    assert _triggers_on() == set() and not FrequentWord.objects.exists() and not WordLeader.objects.exists()


def test_a_rebuild_lists_the_best_of_every_word_held_by_more_artworks_than_a_list(listed: None) -> None:
    impacts = _impacts()
    frequent = {lexeme for lexeme, rows in impacts.items() if len(rows) > PER_WORD}
    assert set(FrequentWord.objects.values_list("lexeme", flat=True)) == frequent
    assert len(frequent) > 50
    lists = _assert_lists_hold_their_promise()
    for lexeme in frequent:
        assert lists[lexeme] == [pk for _, _, pk in impacts[lexeme][:PER_WORD]], lexeme
    # A word whose impacts tie at the floor lists them up to the floor's AIC id, no further.
    assert any(impacts[lexeme][PER_WORD - 1][0] == impacts[lexeme][PER_WORD][0] for lexeme in frequent)


def _frequent_word() -> str:
    """A frequent word that is its own lexeme (written in a title, it is read back as itself)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lexeme FROM catalog_frequentword WHERE tsvector_to_array(to_tsvector('english', lexeme)) = "
            "ARRAY[lexeme] ORDER BY lexeme LIMIT 1"
        )
        return str(cursor.fetchone()[0])


def test_an_artwork_that_ranks_above_a_floor_joins_the_list(listed: None) -> None:
    word = _frequent_word()
    # Three times in the title: above any floor of the sample's lists.
    artwork = Artwork.objects.create(aic_id=9_100_001, title=f"{word} {word} {word}", content_hash="x")
    assert WordLeader.objects.filter(lexeme=word, artwork=artwork).exists()
    _assert_lists_hold_their_promise()


def test_a_changed_document_moves_between_lists_and_a_deleted_one_leaves_them(listed: None) -> None:
    before = _assert_lists_hold_their_promise()
    leader = WordLeader.objects.filter(artwork__title__gt="").select_related("artwork").order_by("lexeme").first()
    assert leader is not None
    artwork = Artwork.objects.get(pk=leader.artwork_id)

    # A curator's boost leaves the document, and so the lists, as they were.
    Artwork.objects.filter(pk=artwork.pk).update(boost=2.0, is_hidden=True)
    assert _assert_lists_hold_their_promise() == before

    # A record whose text is replaced: the artwork leaves the lists of the words it no longer holds.
    text = ["title", "artist_display", "description", "short_description", "alt_text", "medium_display"]
    text += ["place_of_origin", "department_title", "artwork_type_title"]
    lists = ["subject_titles", "term_titles", "classification_titles", "style_titles"]
    Artwork.objects.filter(pk=artwork.pk).update(
        **dict.fromkeys(text, ""), **{name: [] for name in lists}, description_override="Harbour"
    )
    after = _assert_lists_hold_their_promise()
    assert [word for word, artworks in after.items() if artwork.pk in artworks] in ([], ["harbour"])
    assert artwork.pk in before[leader.lexeme]

    Artwork.objects.filter(pk=leader.artwork_id).delete()
    assert not WordLeader.objects.filter(artwork_id=leader.artwork_id).exists()
    _assert_lists_hold_their_promise()


def test_a_harvest_that_changes_records_keeps_the_lists_true(listed: None) -> None:
    word = _frequent_word()
    records: list[dict[str, Any]] = []
    for path in sorted((SAMPLE_DIR / "records").glob("*.json"))[:40]:
        record = json.loads(path.read_text())
        record["title"] = f"A {word} at dusk, " + (record.get("title") or "")
        record["description"] = None
        records.append(record)
    new = dict(records[0], id=9_100_002, title=f"{word} {word} {word}")
    counts = ingest_records([*records, new], IngestCounts())
    assert (counts.updated, counts.created) == (40, 1)  # one INSERT … ON CONFLICT DO UPDATE per chunk
    lists = _assert_lists_hold_their_promise()
    assert Artwork.objects.get(aic_id=9_100_002).pk in lists[word]
