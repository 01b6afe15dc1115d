"""Artworks a curator pins to a query come first for that query, in every mode, in the pins' order:
any case or spacing of the query, never another query, never a hidden or filtered-out artwork."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork, QueryPin
from search.tests.curated import build_catalog, ids, results

pytestmark = pytest.mark.django_db(transaction=True)

MODES = ["keyword", "semantic", "hybrid"]


@pytest.fixture
def catalog(embedding_model: Any) -> dict[str, Artwork]:
    return build_catalog(embedding_model)


@pytest.mark.parametrize("mode", MODES)
def test_pins_come_first_in_their_order_for_that_query(client: Client, catalog: dict[str, Artwork], mode: str) -> None:
    merchant, harbour = catalog["merchant"], catalog["harbour"]
    unpinned = ids(client, q="storm at sea", mode=mode)
    QueryPin.objects.create(query="  Storm   AT sea ", artwork=harbour, position=2)
    QueryPin.objects.create(query="storm at sea", artwork=merchant, position=1)
    hits = results(client, q="STORM at  Sea", mode=mode)
    assert [hit["id"] for hit in hits[:2]] == [merchant.aic_id, harbour.aic_id]
    assert [hit["pinned"] for hit in hits] == [True, True] + [False] * (len(hits) - 2)
    # The ranking follows, without the pinned artworks again.
    rest = [aic_id for aic_id in unpinned if aic_id not in {merchant.aic_id, harbour.aic_id}]
    assert [hit["id"] for hit in hits[2:]] == rest
    # Another query is not pinned.
    assert not any(hit["pinned"] for hit in results(client, q="storm sea", mode=mode))


def test_the_pages_after_the_first_hold_no_pinned_artwork_again(client: Client, catalog: dict[str, Artwork]) -> None:
    merchant = catalog["merchant"]
    QueryPin.objects.create(query="storm at sea", artwork=merchant)
    everything = ids(client, q="storm at sea", mode="hybrid")
    paged = [aic_id for page in (1, 2, 3) for aic_id in ids(client, q="storm at sea", page=page, page_size=2)]
    assert paged[0] == merchant.aic_id and paged == everything[:6]
    assert len(set(paged)) == len(paged)


@pytest.mark.parametrize("mode", MODES)
def test_a_pinned_hidden_artwork_stays_hidden(client: Client, catalog: dict[str, Artwork], mode: str) -> None:
    merchant = catalog["merchant"]
    QueryPin.objects.create(query="storm at sea", artwork=merchant)
    merchant.is_hidden = True
    merchant.save()
    assert merchant.aic_id not in ids(client, q="storm at sea", mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_a_filter_that_excludes_a_pinned_artwork_excludes_it(
    client: Client, catalog: dict[str, Artwork], mode: str
) -> None:
    merchant, harbour = catalog["merchant"], catalog["harbour"]  # prints, paintings
    QueryPin.objects.create(query="storm at sea", artwork=merchant, position=1)
    QueryPin.objects.create(query="storm at sea", artwork=harbour, position=2)
    paintings = results(client, q="storm at sea", mode=mode, department="paintings")
    assert merchant.aic_id not in [hit["id"] for hit in paintings]
    assert paintings[0]["id"] == harbour.aic_id and paintings[0]["pinned"]
