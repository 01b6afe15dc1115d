"""A curator who may add models, and the admin's add form posted as a browser posts it."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.models import Permission, User
from django.test import Client

ADD_URL = "/admin/embeddings/embeddingmodel/add/"
LIST_URL = "/admin/embeddings/embeddingmodel/"
PASSWORD = "a curator's long passphrase"


def curator(username: str = "cleo_curator") -> User:
    """Staff, allowed to see and add models, nothing else."""
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="embeddings", codename__in=["add_embeddingmodel", "view_embeddingmodel"]
        )
    )
    return user


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert found is not None, html[:500]
    return found.group(1)


def post_add_form(client: Client, fields: dict[str, str]) -> Any:
    """Read the add page, then post its form with ``fields`` and the page's CSRF token."""
    page = client.get(ADD_URL)
    assert page.status_code == 200
    return client.post(ADD_URL, {**fields, "csrfmiddlewaretoken": csrf_token(page.content.decode()), "_save": "Save"})
