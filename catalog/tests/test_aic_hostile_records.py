"""Hostile AIC records served by the fake API: odd but valid ones are stored exactly, invalid ones are
quarantined on the SyncRun with their reason, and every good record of the same pages is stored."""

from __future__ import annotations

import random
import string
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from catalog.harvest import import_dump, sync_from_api
from catalog.models import Artwork, SyncRun

pytestmark = pytest.mark.django_db(transaction=True)

NEWEST = "2030-01-01T00:00:00-05:00"  # newer than every sample record: the hostile ones come first
TEXT_FIELDS = [
    "title",
    "artist_display",
    "date_display",
    "place_of_origin",
    "medium_display",
    "dimensions",
    "description",
    "short_description",
    "department_title",
    "artwork_type_title",
    "image_id",
]
LIST_FIELDS = ["classification_titles", "style_titles", "subject_titles", "term_titles"]
UNICODE_TITLES = {
    990_000_010: "Nymphéas — 睡蓮 — Водяные лилии — Ὕδωρ",
    990_000_011: "لوحة بحر عاصف في الليل",  # Arabic, right to left
    990_000_012: "\u202e\u05d8\u05d1\u05e2 \u05d3\u05d5\u05de\u05dd\u202c with an RTL override",  # Hebrew inside explicit bidi controls
    990_000_013: "🌊🌙 Stormy sea 👩🏽‍🎨 🏳️‍🌈",  # emoji, skin tone and ZWJ sequences
    990_000_014: "Zalgo t̷̢̛̗e̴̡͝x̸̧̛t̵̨͠ and a\u200bzero\u200dwidth",
}
HTML_DESCRIPTION = (
    '<p>A <em>quiet</em> harbour.</p><script>alert("x")</script>'
    '<img src=x onerror="alert(1)"><a href="javascript:alert(2)">more</a> &amp; &lt;b&gt;'
)


def _record(aic_id: int, **fields: Any) -> dict[str, Any]:
    return {"id": aic_id, "updated_at": NEWEST, **fields}


def _prose(characters: int, seed: int = 5) -> str:
    """Words that are all different (the hardest case for a full-text index), ``characters`` long."""
    rng = random.Random(seed)
    words: list[str] = []
    length = 0
    while length < characters:
        word = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 12)))
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:characters]


def test_it_stores_records_of_nulls_and_empty_strings(aic: Any) -> None:
    aic.upsert_record(_record(990_000_001, **dict.fromkeys(TEXT_FIELDS + LIST_FIELDS), thumbnail=None))
    aic.upsert_record(
        _record(990_000_002, **dict.fromkeys(TEXT_FIELDS, ""), **{f: [] for f in LIST_FIELDS}, thumbnail={})
    )
    aic.upsert_record(_record(990_000_003, date_start=None, date_end="", is_public_domain=None, updated_at=None))
    run = sync_from_api()
    assert (run.status, run.failed) == (SyncRun.Status.SUCCEEDED, 0)
    assert Artwork.objects.count() == len(aic.records)
    for aic_id in (990_000_001, 990_000_002, 990_000_003):
        artwork = Artwork.objects.get(aic_id=aic_id)
        assert (artwork.title, artwork.image_id, artwork.classification_titles) == ("", "", [])
        assert artwork.date_start is None and artwork.is_public_domain is False


def test_it_stores_unicode_right_to_left_and_emoji_titles_exactly(aic: Any, client: Client) -> None:
    for aic_id, title in UNICODE_TITLES.items():
        aic.upsert_record(_record(aic_id, title=title, artist_display=title[::-1]))
    aic.upsert_record(_record(990_000_015, title="NUL\x00inside"))  # PostgreSQL text cannot hold NUL
    run = sync_from_api()
    assert run.status == SyncRun.Status.SUCCEEDED
    for aic_id, title in UNICODE_TITLES.items():
        artwork = Artwork.objects.get(aic_id=aic_id)
        assert (artwork.title, artwork.artist_display) == (title.strip(), title[::-1].strip())
        page = client.get(f"/artworks/{aic_id}")
        assert page.status_code == 200
        assert title.strip() in page.content.decode()
    stored = Artwork.objects.get(aic_id=990_000_015)
    assert stored.title == stored.raw["title"] == "NULinside"


def test_it_stores_half_an_emoji_as_a_replacement_character(tmp_path: Path) -> None:
    # A JSON escape of a lone surrogate decodes to a str that UTF-8 (and so PostgreSQL) cannot hold.
    (tmp_path / "990000016.json").write_text('{"id": 990000016, "title": "Sea \\ud83c and \\ud83c\\udf0a"}')
    (tmp_path / "990000017.json").write_text('{"id": 990000017, "title": "A good neighbour"}')
    run = import_dump(tmp_path)
    assert (run.status, run.failed) == (SyncRun.Status.SUCCEEDED, 0)
    assert Artwork.objects.get(aic_id=990_000_016).title == "Sea \ufffd and 🌊"
    assert Artwork.objects.filter(aic_id=990_000_017).exists()


def test_it_stores_unknown_fields_and_keeps_them_in_raw(aic: Any) -> None:
    # The API only returns the fields asked for; a new field at AIC arrives inside a page all the same.
    unknown = _record(
        990_000_020,
        title="Has fields we do not know",
        brand_new_field={"nested": [1, {"deeper": None}]},
        thumbnail={"alt_text": "A harbour", "lqip": "data:image/gif;base64,R0lGOD", "width": 10, "extra": True},
    )
    aic.upsert_record(_record(990_000_020, title="placeholder"))
    aic.inject("malformed_record", path_prefix="/api/v1/artworks", index=0, value=unknown)
    run = sync_from_api()
    assert (run.status, run.failed) == (SyncRun.Status.SUCCEEDED, 0)
    artwork = Artwork.objects.get(aic_id=990_000_020)
    assert (artwork.title, artwork.alt_text) == ("Has fields we do not know", "A harbour")
    assert artwork.raw["brand_new_field"] == {"nested": [1, {"deeper": None}]}


def test_it_keeps_html_descriptions_as_text_and_never_renders_their_markup(aic: Any, client: Client) -> None:
    aic.upsert_record(_record(990_000_030, title="Harbour", description=HTML_DESCRIPTION))
    run = sync_from_api()
    assert run.status == SyncRun.Status.SUCCEEDED
    artwork = Artwork.objects.get(aic_id=990_000_030)
    assert artwork.description_html == HTML_DESCRIPTION
    assert artwork.description == 'A quiet harbour.\nalert("x")more & <b>'  # an escaped tag is text
    page = client.get("/artworks/990000030").content.decode()
    assert "A quiet harbour." in page
    for markup in ("<script>alert", "onerror=", 'href="javascript:', "<em>quiet", "<b>"):
        assert markup not in page
    assert "&amp; &lt;b&gt;" in page


def test_it_stores_a_1_mb_description_and_quarantines_a_larger_one(aic: Any) -> None:
    one_megabyte = _prose(1_000_000)
    aic.upsert_record(_record(990_000_040, title="Long essay", description=one_megabyte))
    aic.upsert_record(_record(990_000_041, title="Too long", description=_prose(1_000_001, seed=6)))
    run = sync_from_api()
    assert (run.status, run.failed) == (SyncRun.Status.PARTIAL, 1)
    assert run.errors == [{"aic_id": 990_000_041, "reason": "description is 1000001 characters long (limit 1000000)"}]
    assert Artwork.objects.get(aic_id=990_000_040).description == one_megabyte
    assert Artwork.objects.count() == len(aic.records) - 1


def test_it_quarantines_each_invalid_record_with_its_reason_and_stores_the_rest(aic: Any) -> None:
    bad = {
        990_000_050: ({"title": {"en": "a dict"}}, "title is a dict, not text"),
        990_000_051: ({"date_start": "eighteen-eighty"}, "date_start 'eighteen-eighty' is not a year"),
        990_000_052: ({"subject_titles": ["ok", 7]}, "subject_titles is not a list of strings"),
        990_000_053: ({"image_id": "../../etc/passwd"}, "image_id '../../etc/passwd' is not a IIIF identifier"),
        990_000_054: ({"thumbnail": {"alt_text": ["not", "text"]}}, "alt_text is a list, not text"),
        990_000_055: ({"is_on_view": True, "updated_at": "yesterday"}, "is not an ISO 8601 date-time"),
    }
    for aic_id, (fields, _) in bad.items():
        aic.upsert_record(_record(aic_id, **fields))
    aic.upsert_record(_record(990_000_056, title="A good record among bad ones"))
    run = sync_from_api()
    assert run.status == SyncRun.Status.PARTIAL
    assert run.failed == len(bad)
    reasons = {error["aic_id"]: error["reason"] for error in run.errors}
    for aic_id, (_, reason) in bad.items():
        assert reason in reasons[aic_id]
    assert not Artwork.objects.filter(aic_id__in=bad).exists()
    assert Artwork.objects.count() == len(aic.records) - len(bad)
    assert Artwork.objects.filter(aic_id=990_000_056).exists()


def test_it_quarantines_a_record_holding_nan_or_infinity_and_stores_the_rest_of_its_page(aic: Any) -> None:
    # Python's JSON (the fake API's) writes these as NaN and Infinity; jsonb cannot hold them.
    aic.upsert_record(_record(990_000_060, title="Colour unknown", date_start=float("nan")))
    aic.upsert_record(_record(990_000_061, title="Boundless", date_end=float("inf")))
    aic.upsert_record(_record(990_000_062, title="A good record between them"))
    run = sync_from_api()
    assert (run.status, run.failed) == (SyncRun.Status.PARTIAL, 2)
    reasons = {error["aic_id"]: error["reason"] for error in run.errors}
    assert reasons == {
        990_000_060: "the record holds NaN, which is not a number JSON can store",
        990_000_061: "the record holds Infinity, which is not a number JSON can store",
    }
    assert Artwork.objects.get(aic_id=990_000_062).title == "A good record between them"
    assert Artwork.objects.count() == len(aic.records) - 2


def test_it_reads_dump_numbers_as_jsonb_can_hold_them(tmp_path: Path) -> None:
    (tmp_path / "990000070.json").write_text('{"id": 990000070, "title": "Too far", "depth": 1e400}')
    (tmp_path / "990000071.json").write_text(
        '{"id": 990000071, "title": "Huge count", "count": 123456789012345678901234567890}'
    )
    (tmp_path / "990000072.json").write_text(
        '{"id": 990000072, "title": "Largest 64-bit", "count": 18446744073709551615}'
    )
    (tmp_path / "990000073.json").write_text('{"id": 990000073, "title": "Fine", "ratio": 1.0037309515913109e-05}')
    run = import_dump(tmp_path)
    assert (run.status, run.failed) == (SyncRun.Status.PARTIAL, 1)
    assert run.errors == [
        {"aic_id": 990_000_070, "reason": "the record holds 1e400, which is not a number JSON can store"}
    ]
    # Beyond 64 bits an integer is the nearest double, as most JSON readers keep it (jsonb then
    # writes that double's shortest decimal form).
    assert Artwork.objects.get(aic_id=990_000_071).raw["count"] == 123_456_789_012_345_680_000_000_000_000
    assert Artwork.objects.get(aic_id=990_000_072).raw["count"] == 18_446_744_073_709_551_615
    assert Artwork.objects.get(aic_id=990_000_073).raw["ratio"] == 1.0037309515913109e-05
