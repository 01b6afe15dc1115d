"""In a real browser: a result's snippet highlights the query's words, and weak matches are folded
under "weaker matches" (open, with a note, when nothing matches closely)."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.models import Artwork
from embeddings.models import EmbeddingModel
from search.tests.conftest import SCREENSHOTS

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_visitor_sees_highlighted_words_and_folded_weak_matches(
    page: Any, live_server: Any, indexed: list[Artwork], embedding_model: EmbeddingModel
) -> None:
    page.goto(f"{live_server.url}/?q=portrait&mode=keyword")
    marks = page.locator("#results .card .snippet mark")
    marks.first.wait_for()
    assert marks.first.inner_text().lower() == "portrait"
    assert page.locator("#results details.weaker").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "why-snippet.png"), full_page=True)

    # Every semantic match is below this threshold: the page says there is no close match.
    EmbeddingModel.objects.filter(pk=embedding_model.pk).update(match_threshold=1.5)
    page.goto(f"{live_server.url}/?q=qwxzv+plmk&mode=semantic")
    note = page.locator("#results .no-close-match")
    note.wait_for()
    assert "No close match for “qwxzv plmk”" in note.inner_text()
    fold = page.locator("#results details.weaker")
    assert fold.get_attribute("open") is not None
    assert fold.locator("summary").inner_text().startswith("Weaker matches")
    assert fold.locator(".card").count() > 0
    page.screenshot(path=str(SCREENSHOTS / "weaker-matches.png"), full_page=True)

    # Where some hits are strong, the weak ones are folded shut beneath them.
    EmbeddingModel.objects.filter(pk=embedding_model.pk).update(match_threshold=-1.5)
    page.goto(f"{live_server.url}/?q=portrait&mode=semantic&page_size=12")
    page.locator("#results .card").first.wait_for()
    assert page.locator("#results details.weaker").count() == 0
    assert page.locator("#results .badge.visual-match").count() == 12
