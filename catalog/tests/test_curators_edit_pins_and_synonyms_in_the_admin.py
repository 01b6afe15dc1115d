"""Curators with the pin and synonym permissions add and edit them in the admin (CSRF enforced);
staff without them are refused."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from catalog.models import Artwork, QueryPin, Synonym

pytestmark = pytest.mark.django_db

PERMISSIONS = [
    f"{action}_{model}" for action in ("view", "add", "change", "delete") for model in ("querypin", "synonym")
]


def _client(user: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def _post(client: Client, url: str, data: dict[str, object]) -> Any:
    """The form at ``url`` posted back with ``data`` and the CSRF token its page set."""
    return client.post(url, {**data, "csrfmiddlewaretoken": _token(client, url)})


def _token(client: Client, url: str) -> str:
    """The CSRF token of the form on the page at ``url``."""
    page = client.get(url)
    assert page.status_code == 200
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert found is not None
    return found.group(1)


@pytest.fixture
def curator() -> User:
    user = User.objects.create_user("curator", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="catalog", codename__in=PERMISSIONS))
    return user


def test_a_curator_pins_an_artwork_to_a_query(curator: User) -> None:
    artwork = Artwork.objects.create(aic_id=7, title="Storm at sea", content_hash="x")
    client = _client(curator)
    response = _post(
        client,
        "/admin/catalog/querypin/add/",
        {"query": "  Storm AT   sea ", "artwork": artwork.pk, "position": 1, "note": "the museum's favourite"},
    )
    assert response.status_code == 302, response.content
    pin = QueryPin.objects.get()
    assert (pin.query, pin.artwork_id, pin.created_by) == ("storm at sea", artwork.pk, curator)
    listing = client.get("/admin/catalog/querypin/").content.decode()
    assert "storm at sea" in listing
    change = f"/admin/catalog/querypin/{pin.pk}/change/"
    response = _post(client, change, {"query": "storm at sea", "artwork": artwork.pk, "position": 3, "note": ""})
    assert response.status_code == 302 and QueryPin.objects.get().position == 3
    # The same artwork twice for one query (in another spelling) is refused on the form.
    again = _post(
        client, "/admin/catalog/querypin/add/", {"query": "STORM at sea", "artwork": artwork.pk, "position": 1}
    )
    assert again.status_code == 200 and QueryPin.objects.count() == 1


def test_a_curator_writes_a_synonym(curator: User) -> None:
    client = _client(curator)
    response = _post(client, "/admin/catalog/synonym/add/", {"terms": "Monet, Claude  Monet", "note": ""})
    assert response.status_code == 302, response.content
    synonym = Synonym.objects.get()
    assert synonym.normalised_terms == ["monet", "claude monet"] and synonym.created_by == curator
    assert "Claude  Monet" in client.get("/admin/catalog/synonym/").content.decode()
    # One term alone is no synonym.
    lonely = _post(client, "/admin/catalog/synonym/add/", {"terms": "sea, SEA", "note": ""})
    assert lonely.status_code == 200 and Synonym.objects.count() == 1
    assert "at least two different terms" in lonely.content.decode()


def test_staff_without_the_permissions_are_refused() -> None:
    clerk = User.objects.create_user("clerk", password="pw", is_staff=True)
    client = _client(clerk)
    assert client.get("/admin/catalog/querypin/add/").status_code == 403
    assert client.get("/admin/catalog/synonym/add/").status_code == 403
    token = _token(client, "/admin/")  # the index page's logout form
    refused = client.post("/admin/catalog/synonym/add/", {"terms": "sea, ocean", "csrfmiddlewaretoken": token})
    assert refused.status_code == 403 and not Synonym.objects.exists()
