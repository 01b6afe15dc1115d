"""A harvest rewrites what AIC publishes and never what curators wrote."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.harvest import sync_from_api
from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_updates_a_changed_record_and_keeps_the_curators_edits(aic: Any) -> None:
    sync_from_api()
    Artwork.objects.filter(aic_id=28560).update(
        is_hidden=True, boost=0.5, curator_note="Check the frame", description_override="Our own words."
    )
    created_at = Artwork.objects.get(aic_id=28560).created_at
    record = dict(aic.records[28560])
    record.update(title="The Bedroom (retitled)", updated_at="2030-01-01T00:00:00+00:00")
    aic.upsert_record(record)

    run = sync_from_api()

    assert (run.updated, run.created) == (1, 0)
    artwork = Artwork.objects.get(aic_id=28560)
    assert artwork.title == "The Bedroom (retitled)" and artwork.raw["title"] == "The Bedroom (retitled)"
    assert (artwork.is_hidden, artwork.boost, artwork.curator_note, artwork.description_override) == (
        True,
        0.5,
        "Check the frame",
        "Our own words.",
    )
    assert artwork.created_at == created_at and artwork.updated_at > created_at


def test_it_gives_new_artworks_the_default_curation(aic: Any) -> None:
    sync_from_api(limit=5)
    curation = set(Artwork.objects.values_list("is_hidden", "boost", "curator_note", "description_override"))
    assert curation == {(False, 0.0, "", "")}
