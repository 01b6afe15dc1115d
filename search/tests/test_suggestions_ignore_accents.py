"""/api/suggest matches with and without accents, as keyword search does: "durer" suggests Albrecht
Dürer and "Ducasse" a "Ducassé", a word typed with its accent first among those it starts."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)


def _labels(client: Client, q: str) -> list[str]:
    response = client.get("/api/suggest", {"q": q})
    assert response.status_code == 200, response.content
    return [suggestion["label"] for suggestion in response.json()["suggestions"]]


@pytest.fixture
def accented(db: None) -> None:
    Artwork.objects.create(aic_id=1, title="Knight, Death and the Devil", artist_display="Albrecht Dürer\nGerman")
    Artwork.objects.create(aic_id=2, title="Café Terrace at Night", artist_display="Vincent van Gogh")
    Artwork.objects.create(aic_id=3, title="Portrait of Père Tanguy", artist_display="Émile Bernard")
    Artwork.objects.create(aic_id=4, title="A Durable Chair", artist_display="Anonymous")


def test_typed_without_accents_finds_the_accented(client: Client, accented: None) -> None:
    assert "Albrecht Dürer" in _labels(client, "durer")
    assert "Café Terrace at Night" in _labels(client, "cafe ter")
    assert "Émile Bernard" in _labels(client, "emile")
    assert "Portrait of Père Tanguy" in _labels(client, "pere tan")


def test_typed_with_accents_finds_the_plain(client: Client, accented: None) -> None:
    assert "A Durable Chair" in _labels(client, "dürab")
    assert _labels(client, "Dürer")[0] == "Albrecht Dürer"


def test_a_word_start_counts_without_its_accent(client: Client, accented: None, settings: Any) -> None:
    # "emi" starts a word of "Émile Bernard": it ranks among the prefixes, before any mere share.
    found = _labels(client, "emi")
    assert found and found[0] == "Émile Bernard"
