"""Records of one image fold into one result, which lists the others as "similar"."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork
from embeddings.models import ArtworkEmbedding, EmbeddingModel

pytestmark = pytest.mark.django_db(transaction=True)


def _search(client: Client, **params: Any) -> dict[str, Any]:
    response = client.get("/api/search", params)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("mode", ["semantic", "hybrid", "keyword"])
def test_two_records_sharing_an_image_are_one_result(client: Client, indexed: list[Artwork], mode: str) -> None:
    query = "oil on canvas paper" if mode == "keyword" else "a landscape"
    before = [hit["id"] for hit in _search(client, q=query, mode=mode, k=30)["results"]]
    assert len(before) >= 3 and not any(_search(client, q=query, mode=mode, k=29)["results"][0]["similar"])
    first, copy = before[0], before[2]
    image_id = Artwork.objects.get(aic_id=first).image_id
    Artwork.objects.filter(aic_id=copy).update(image_id=image_id)

    results = _search(client, q=query, mode=mode, k=28)["results"]  # another size: not the cached answer

    ids = [hit["id"] for hit in results]
    assert copy not in ids
    assert ids[0] == first and results[0]["similar"] == [copy]
    # The page is filled past the folded record, from the candidates after it.
    assert len(ids) == min(28, len(before) - 1)

    page = client.get("/", {"q": query, "mode": mode}).content.decode()
    assert "1 similar" in page


def test_prints_of_one_plate_fold_by_their_vectors_under_a_calibrated_model(
    client: Client, indexed: list[Artwork], embedding_model: EmbeddingModel
) -> None:
    before = [hit["id"] for hit in _search(client, q="a landscape", mode="semantic", k=30)["results"]]
    first, plate, stranger = before[0], before[3], before[5]
    vector = ArtworkEmbedding.objects.get(model=embedding_model, artwork__aic_id=first).vector
    # Two other records whose images are the first's (other image ids): one by its artist, one not.
    artist = Artwork.objects.get(aic_id=first).artist_display
    Artwork.objects.filter(aic_id=plate).update(artist_display=artist)
    Artwork.objects.filter(aic_id=stranger).update(artist_display=f"not {artist}")
    ArtworkEmbedding.objects.filter(model=embedding_model, artwork__aic_id__in=[plate, stranger]).update(vector=vector)

    uncalibrated = [hit["id"] for hit in _search(client, q="a landscape", mode="semantic", k=29)["results"]]
    EmbeddingModel.objects.filter(pk=embedding_model.pk).update(match_threshold=-1.0)
    results = _search(client, q="a landscape", mode="semantic", k=28)["results"]

    assert plate in uncalibrated  # an uncalibrated model's vectors fold nothing
    by_id = {hit["id"]: hit for hit in results}
    assert plate not in by_id and plate in by_id[first]["similar"]
    assert stranger in by_id  # close vectors, another artist: another work
