"""Every visitor-facing string of the pages is marked for translation: each page rendered in Spanish,
over a collection whose records hold no English, shows no English word, in its text or in the
attributes people read (placeholders, labels, alt text, the messages site.js shows)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.utils import translation

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)

# Words of the pages' English that no Spanish sentence of theirs uses.
ENGLISH = set(
    [
        "the",
        "and",
        "of",
        "to",
        "for",
        "with",
        "your",
        "you",
        "search",
        "searches",
        "searching",
        "results",
        "result",
        "image",
        "images",
        "artwork",
        "artworks",
        "page",
        "pages",
        "previous",
        "next",
        "try",
        "again",
        "filter",
        "filters",
        "found",
        "public",
        "domain",
        "view",
        "similar",
        "type",
        "department",
        "date",
        "sort",
        "any",
        "from",
        "year",
        "untitled",
        "description",
        "record",
        "data",
        "licensed",
        "other",
        "skip",
        "content",
        "please",
        "wait",
        "moment",
        "back",
        "withdrawn",
        "collection",
        "unavailable",
        "temporarily",
        "find",
        "oldest",
        "newest",
        "first",
        "relevance",
        "ranking",
        "hybrid",
        "semantic",
        "keyword",
        "yes",
        "is",
        "are",
        "was",
        "not",
        "at",
        "most",
        "it",
        "its",
        "stored",
        "compared",
        "discarded",
        "press",
        "move",
        "into",
        "come",
        "update",
        "as",
        "type",
        "only",
        "place",
        "style",
        "subjects",
        "terms",
        "medium",
        "dimensions",
        "classification",
        "zoom",
        "full",
        "size",
        "information",
    ]
)
# Names that stay as they are in any language.
NAMES = (
    "The Art Institute of Chicago",
    "Art Institute of Chicago",
    "CC BY 4.0",
    "CC0",
    "IIIF",
    "JPEG",
    "PNG",
    "WebP",
    "GIF",
    "API",
    "AIC",
    "Esc",
)
READ_ATTRIBUTES = {"placeholder", "aria-label", "alt", "title"}  # an option's value is for the server


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._skip += 1
        for name, value in attrs:
            if value and (name in READ_ATTRIBUTES or name.endswith("-message")):
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def english_words(html: str) -> set[str]:
    parser = _VisibleText()
    parser.feed(html)
    # Addresses (a citation's) are names too.
    text = re.sub(r"https?://\S+", " ", " ".join(parser.parts))
    for name in NAMES:
        text = text.replace(name, " ")
    # Whole words, accents and underscores included: "así" is not "as", a parameter's name (date_from) is a name.
    return {word for word in re.findall(r"[^\W\d]+", text.lower()) if word in ENGLISH}


@pytest.fixture
def spanish_collection(db: None) -> list[Artwork]:
    """Two artworks whose records are in Spanish: whatever English is left on a page is the site's own."""
    common = {"content_hash": "es", "is_public_domain": True, "is_on_view": True}
    return [
        Artwork.objects.create(
            aic_id=8_800_001,
            title="Paisaje nocturno",
            artist_display="Pintora desconocida",
            date_display="1890",
            date_start=1890,
            date_end=1890,
            medium_display="Óleo sobre lienzo",
            dimensions="50 x 60 cm",
            place_of_origin="Francia",
            department_title="Pintura",
            artwork_type_title="Pintura",
            classification_titles=["óleo"],
            style_titles=["nocturno"],
            subject_titles=["paisaje"],
            term_titles=["noche"],
            description="Un paisaje bajo la luna.",
            alt_text="Un paisaje oscuro bajo la luna.",
            image_id="abcd-1234",
            **common,
        ),
        Artwork.objects.create(aic_id=8_800_002, title="", date_display="1900", **common),
    ]


def test_the_spanish_pages_show_no_english(client: Client, spanish_collection: list[Artwork]) -> None:
    spanish = {"HTTP_ACCEPT_LANGUAGE": "es"}
    pages = {
        "search page": client.get("/", **spanish),
        "no results": client.get("/", {"q": "zzzzqx", "mode": "keyword"}, **spanish),
        "results": client.get("/", {"q": "paisaje", "mode": "keyword", "is_on_view": "true"}, **spanish),
        "refused": client.get("/", {"q": "mar", "date_from": "x"}, **spanish),
        "artwork": client.get(f"/artworks/{spanish_collection[0].aic_id}", **spanish),
        "untitled artwork": client.get(f"/artworks/{spanish_collection[1].aic_id}", **spanish),
    }
    assert "Paisaje nocturno" in pages["results"].content.decode()  # the search did find it
    assert "date_from debe ser un número entero" in pages["refused"].content.decode()
    assert "Sin título" in pages["untitled artwork"].content.decode()
    Artwork.objects.filter(pk=spanish_collection[0].pk).update(withdrawn_at=datetime(2025, 3, 14, tzinfo=UTC))
    withdrawn = client.get(f"/artworks/{spanish_collection[0].aic_id}", **spanish)
    assert withdrawn.status_code == 410
    assert "14 de marzo de 2025" in withdrawn.content.decode()
    pages["withdrawn"] = withdrawn
    found = {name: english_words(response.content.decode()) for name, response in pages.items()}
    assert found == {name: set() for name in pages}


def test_the_pages_rendered_without_a_view_show_no_english(db: None) -> None:
    request = RequestFactory().get("/", {"q": "mar"})
    with translation.override("es"):
        too_many = render_to_string("search/too_many.html", {"retry_after": 7, "window": 60}, request=request)
        unavailable = render_to_string("503.html")
    assert "vuelva a intentarlo dentro de 7 s" in too_many
    assert english_words(too_many) == set()
    assert english_words(unavailable) == set()


def test_the_word_check_finds_english_when_there_is_some() -> None:
    assert english_words('<p title="Search the collection">Resultados</p>') == {"search", "the", "collection"}
    assert english_words("<p>Art Institute of Chicago, CC BY 4.0</p>") == set()
