"""A cached search answer changes as soon as a curator adds or removes a pin or a synonym."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from prometheus_client import REGISTRY

from catalog.models import Artwork, QueryPin, Synonym
from search.tests.curated import build_catalog, ids

pytestmark = pytest.mark.django_db(transaction=True)


def _cache_hits() -> float:
    return REGISTRY.get_sample_value("museum_search_result_cache_lookups_total", {"result": "hit"}) or 0.0


@pytest.fixture
def catalog(embedding_model: Any, settings: Any) -> dict[str, Artwork]:
    settings.SEARCH_RESULT_CACHE_SECONDS = 600
    return build_catalog(embedding_model)


def test_a_cached_answer_changes_when_a_pin_comes_and_goes(client: Client, catalog: dict[str, Artwork]) -> None:
    merchant = catalog["merchant"].aic_id
    first = ids(client, q="storm at sea")
    hits = _cache_hits()
    assert ids(client, q="storm at sea") == first and _cache_hits() == hits + 1  # answered from the cache
    pin = QueryPin.objects.create(query="storm at sea", artwork=catalog["merchant"])
    assert ids(client, q="Storm at sea")[0] == merchant
    pin.delete()
    assert ids(client, q="storm at sea") == first


def test_a_cached_answer_changes_when_a_synonym_comes_and_goes(client: Client, catalog: dict[str, Artwork]) -> None:
    storm = catalog["storm"].aic_id
    assert ids(client, q="ocean", mode="keyword") == [catalog["waves"].aic_id]
    synonym = Synonym.objects.create(terms="sea, ocean")
    assert storm in ids(client, q="ocean", mode="keyword")
    synonym.delete()
    assert storm not in ids(client, q="ocean", mode="keyword")
