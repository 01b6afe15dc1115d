"""A web process runs at most IMAGE_SEARCH_CONCURRENCY image searches at once: one more is answered
503 with Retry-After at once (JSON from the API, the page for people), not queued behind the tower."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from conftest import SAMPLE_DIR
from search.image_query import image_tower_slot

IMAGE = next(SAMPLE_DIR.joinpath("images").glob("*.jpg")).read_bytes()


def _upload() -> dict[str, Any]:
    return {"image": SimpleUploadedFile("query.jpg", IMAGE, "image/jpeg")}


@pytest.mark.django_db
def test_a_search_past_the_cap_is_answered_503_at_once(settings: Any, embedding_model: Any) -> None:
    settings.IMAGE_SEARCH_CONCURRENCY = 2
    client = Client()
    with image_tower_slot(), image_tower_slot():  # two searches in the tower
        started = time.monotonic()
        api = client.post("/api/search/image", _upload())
        page = client.post("/search/image", _upload())
        fragment = client.post("/search/image", _upload(), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
        assert time.monotonic() - started < 5  # refused, not queued
    assert api.status_code == 503 and api["Retry-After"] == "2"
    assert "busy" in api.json()["error"]
    assert page.status_code == 503 and page["Retry-After"] == "2"
    assert "<html" in page.content.decode() and "The image search is busy, try again in 2 s." in page.content.decode()
    assert fragment.status_code == 503 and "<html" not in fragment.content.decode()
    # The slots were given back: searches run again.
    assert client.post("/api/search/image", _upload()).status_code == 200


@pytest.mark.django_db
def test_a_slot_is_given_back_when_the_search_fails(settings: Any, embedding_model: Any) -> None:
    settings.IMAGE_SEARCH_CONCURRENCY = 1
    client = Client()
    bad = client.post("/api/search/image", {"image": SimpleUploadedFile("x.jpg", b"not an image", "image/jpeg")})
    assert bad.status_code == 400
    assert client.post("/api/search/image", _upload()).status_code == 200


def test_threads_past_the_cap_are_refused_while_the_others_hold_slots(settings: Any) -> None:
    settings.IMAGE_SEARCH_CONCURRENCY = 2
    inside = threading.Barrier(3)
    release = threading.Event()
    outcomes: list[str] = []

    def search() -> None:
        try:
            with image_tower_slot():
                inside.wait(5)
                release.wait(5)
                outcomes.append("ran")
        except Exception as exc:
            outcomes.append(type(exc).__name__)

    holders = [threading.Thread(target=search) for _ in range(2)]
    for thread in holders:
        thread.start()
    inside.wait(5)
    search()  # a third, while two hold the slots
    release.set()
    for thread in holders:
        thread.join(5)
    assert sorted(outcomes) == ["ImageSearchBusy", "ran", "ran"]
