"""Model admins that other apps add to, in place: no app unregisters another app's admin.

An app that owns a model registers its admin once. An app that depends on it (the embeddings app on
the catalog's artworks, the training app on the embeddings app's models) calls ``extend`` on that
admin class with the filters, inlines, columns and actions only it knows. The dependency arrow is
the imports' own (the extending app imports the extended admin), so the order of INSTALLED_APPS
plays no part.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.contrib import admin


class ExtensibleModelAdmin(admin.ModelAdmin[Any]):
    """A model admin whose list filters, inlines, list columns and actions other apps may add to."""

    @classmethod
    def extend(
        cls,
        *,
        list_filter: Sequence[Any] = (),
        inlines: Sequence[type[admin.options.InlineModelAdmin[Any, Any]]] = (),
        list_display: Sequence[str | Callable[[Any], Any]] = (),
        actions: Sequence[Callable[..., Any]] = (),
    ) -> None:
        """Add to this admin: filters first (they are the extending app's view of the list), the rest after.

        Actions must be module-level functions (``@admin.action``), not method names of another class.
        """
        cls.list_filter = [*list_filter, *(item for item in cls.list_filter if item not in list_filter)]
        cls.inlines = [*cls.inlines, *(inline for inline in inlines if inline not in cls.inlines)]
        cls.list_display = [*cls.list_display, *(column for column in list_display if column not in cls.list_display)]
        cls.actions = [*(cls.actions or []), *(action for action in actions if action not in (cls.actions or []))]
