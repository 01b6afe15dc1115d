from __future__ import annotations

import pytest

from catalog.records import RecordError, content_hash, html_to_text, parse_record


def test_it_maps_a_full_record_to_artwork_fields() -> None:
    record = {
        "id": 27992,
        "title": "A Sunday on La Grande Jatte — 1884",
        "artist_display": "Georges Seurat\nFrench, 1859-1891",
        "date_start": 1884,
        "date_end": 1886,
        "description": "<p>In his best-known <em>painting</em>, Seurat&rsquo;s dots.</p>\n<p>Second.</p>",
        "thumbnail": {"alt_text": "People in a park."},
        "classification_titles": ["painting", "oil on canvas"],
        "is_public_domain": True,
        "image_id": "2d484387-2509-5e8e-2c43-22f9981972eb",
        "updated_at": "2025-01-02T03:04:05-06:00",
    }
    parsed = parse_record(record)
    assert parsed.aic_id == 27992
    assert parsed.fields["description"] == "In his best-known painting, Seurat\u2019s dots.\n\nSecond."
    assert parsed.fields["description_html"].startswith("<p>")
    assert parsed.fields["alt_text"] == "People in a park."
    assert parsed.fields["classification_titles"] == ["painting", "oil on canvas"]
    assert parsed.fields["is_public_domain"] is True
    assert parsed.updated_at is not None and parsed.updated_at.utcoffset() is not None


def test_it_accepts_nulls_and_unknown_fields() -> None:
    parsed = parse_record({"id": 5, "title": None, "image_id": None, "brand_new_field": {"x": 1}})
    assert parsed.fields["title"] == ""
    assert parsed.fields["image_id"] == ""
    assert parsed.fields["raw"]["brand_new_field"] == {"x": 1}


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ("not a record", "not an object"),
        ({"id": "12"}, "not a positive integer"),
        ({"id": -3}, "not a positive integer"),
        ({"id": 1, "title": ["a"]}, "title is a list"),
        ({"id": 1, "updated_at": "yesterday"}, "not an ISO 8601"),
        ({"id": 1, "image_id": "../../etc/passwd"}, "not a IIIF identifier"),
        ({"id": 1, "date_start": "1880s"}, "not a year"),
    ],
)
def test_it_rejects_malformed_records_with_a_reason(record: object, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        parse_record(record)


def test_it_ignores_volatile_keys_in_the_content_hash() -> None:
    record = {"id": 1, "title": "A", "timestamp": "2025-01-01T00:00:00Z", "_score": 3.2}
    same = {"id": 1, "title": "A", "timestamp": "2026-01-01T00:00:00Z", "_score": 9.9}
    changed = {"id": 1, "title": "B", "timestamp": "2025-01-01T00:00:00Z"}
    assert content_hash(record) == content_hash(same)
    assert content_hash(record) != content_hash(changed)


def test_it_strips_html_but_keeps_unicode_and_right_to_left_text() -> None:
    assert html_to_text("<p>מים &amp; 🌊 <script>x</script></p>") == "מים & 🌊 x"
