"""Search filters: the artwork facts a result set can be narrowed by."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.lookups import Overlap
from django.db.models import Q, TextField, Value
from django.utils.translation import gettext as _

from catalog.models import IndexedTitles

# The filters that may be given more than once (an artwork passes with any of their values).
REPEATABLE_FILTERS = ("artist", "classification", "style", "subject", "place")
# The filters that pick values of a field, as a facet lists them.
VALUE_FILTERS = ("department", "artwork_type", *REPEATABLE_FILTERS)


@dataclass(frozen=True)
class SearchFilters:
    """Each set field narrows the results; None (or no values) means "any".

    The value filters ``artist``, ``classification``, ``style``, ``subject`` and ``place`` are
    tuples of values, sorted: an artwork passes when it has any of them (OR within a field);
    every field set must pass (AND across fields). Artist and place compare with any case, as the
    department and type do; classification, style and subject titles compare exactly.

    Years compare against an artwork's date range: ``date_from`` keeps artworks that end in or
    after that year, ``date_to`` those that start in or before it, so a range keeps every
    artwork whose dates overlap it. Artworks without dates are dropped by a date filter.
    """

    department: str | None = None
    artwork_type: str | None = None
    date_from: int | None = None
    date_to: int | None = None
    is_public_domain: bool | None = None
    is_on_view: bool | None = None
    has_image: bool | None = None
    artist: tuple[str, ...] = ()
    classification: tuple[str, ...] = ()
    style: tuple[str, ...] = ()
    subject: tuple[str, ...] = ()
    place: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.date_from is not None and self.date_to is not None and self.date_from > self.date_to:
            raise ValueError(
                _("date_from (%(start)s) is after date_to (%(end)s)") % {"start": self.date_from, "end": self.date_to}
            )

    def as_q(self, prefix: str = "") -> Q:
        """The filters as a Q over Artwork; ``prefix`` reaches Artwork through a relation ("artwork__")."""
        q = Q()
        if self.department:
            q &= Q(**{f"{prefix}department_title__iexact": self.department})
        if self.artwork_type:
            q &= Q(**{f"{prefix}artwork_type_title__iexact": self.artwork_type})
        if self.date_from is not None:
            # An artwork without an end year ends when it starts.
            q &= Q(**{f"{prefix}date_end__gte": self.date_from}) | Q(
                **{f"{prefix}date_end__isnull": True, f"{prefix}date_start__gte": self.date_from}
            )
        if self.date_to is not None:
            q &= Q(**{f"{prefix}date_start__lte": self.date_to}) | Q(
                **{f"{prefix}date_start__isnull": True, f"{prefix}date_end__lte": self.date_to}
            )
        for values, field in ((self.artist, "artist_title"), (self.place, "place_of_origin")):
            if values:
                any_of = Q()
                for value in values:
                    any_of |= Q(**{f"{prefix}{field}__iexact": value})
                q &= any_of
        for values, field in (
            (self.classification, "classification_titles"),
            (self.style, "style_titles"),
            (self.subject, "subject_titles"),
        ):
            if values:
                # The indexed, cut titles (catalog.models.IndexedTitles): a filter value is never longer.
                q &= Q(Overlap(IndexedTitles(f"{prefix}{field}"), Value(list(values), ArrayField(TextField()))))
        if self.is_public_domain is not None:
            q &= Q(**{f"{prefix}is_public_domain": self.is_public_domain})
        if self.is_on_view is not None:
            q &= Q(**{f"{prefix}is_on_view": self.is_on_view})
        if self.has_image is True:
            q &= ~Q(**{f"{prefix}image_id": ""})
        elif self.has_image is False:
            q &= Q(**{f"{prefix}image_id": ""})
        return q

    def active(self) -> dict[str, str | int | bool | list[str]]:
        """The filters that are set, by parameter name (for links and filter chips); a value filter's
        values as a list."""
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in asdict(self).items()
            if value is not None and value != "" and value != ()
        }

    @property
    def picks_values(self) -> bool:
        """Whether a department, type or value filter is set: a small share of a catalog, not a half of it."""
        return any(getattr(self, name) for name in VALUE_FILTERS)

    def without_values(self) -> SearchFilters:
        """These filters less the department, type and value filters (the dates and yes/no ones)."""
        return replace(
            self, department=None, artwork_type=None, artist=(), classification=(), style=(), subject=(), place=()
        )

    @property
    def excludes_vectors(self) -> bool:
        """Only artworks with an image have a vector: has_image=false leaves vector search nothing."""
        return self.has_image is False
