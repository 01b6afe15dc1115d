"""Search filters: the artwork facts a result set can be narrowed by."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.db.models import Q
from django.utils.translation import gettext as _


@dataclass(frozen=True)
class SearchFilters:
    """Each set field narrows the results; None means "any".

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
        if self.is_public_domain is not None:
            q &= Q(**{f"{prefix}is_public_domain": self.is_public_domain})
        if self.is_on_view is not None:
            q &= Q(**{f"{prefix}is_on_view": self.is_on_view})
        if self.has_image is True:
            q &= ~Q(**{f"{prefix}image_id": ""})
        elif self.has_image is False:
            q &= Q(**{f"{prefix}image_id": ""})
        return q

    def active(self) -> dict[str, str | int | bool]:
        """The filters that are set, by parameter name (for links and filter chips)."""
        return {name: value for name, value in asdict(self).items() if value is not None and value != ""}

    @property
    def excludes_vectors(self) -> bool:
        """Only artworks with an image have a vector: has_image=false leaves vector search nothing."""
        return self.has_image is False
