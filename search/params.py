"""Search parameters as the API and the pages read them, and the messages for bad ones."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Any

import annotated_types
import pydantic
from django.conf import settings
from django.http import QueryDict
from django.utils.translation import gettext as _
from ninja import Field, Schema
from ninja.schema import DjangoGetter
from pydantic import StringConstraints, field_validator, model_validator

from catalog.models import INDEXED_TITLE_LENGTH
from search.filters import REPEATABLE_FILTERS, SearchFilters
from search.types import Mode, SearchError, Sort

# The most values one repeatable filter takes.
MAX_FILTER_VALUES = 20
FilterValue = Annotated[str, StringConstraints(max_length=INDEXED_TITLE_LENGTH)]


def _values(description: str) -> Any:
    return Field(default_factory=list, max_length=MAX_FILTER_VALUES, description=description)


class FilterParams(Schema):
    """Filters shared by text search, image search and similar artworks."""

    department: str | None = Field(None, max_length=200, description="Department title, exact (any case)")
    artwork_type: str | None = Field(None, max_length=200, description="Artwork type title, exact (any case)")
    date_from: int | None = Field(None, ge=-10000, le=10000, description="Year: artworks that end in or after it")
    date_to: int | None = Field(None, ge=-10000, le=10000, description="Year: artworks that start in or before it")
    is_public_domain: bool | None = None
    is_on_view: bool | None = None
    has_image: bool | None = None
    artist: list[FilterValue] = _values("Artist (the main one), exact (any case); repeat for any of several")
    classification: list[FilterValue] = _values("Classification title, exact; repeat for any of several")
    style: list[FilterValue] = _values("Style title, exact; repeat for any of several")
    subject: list[FilterValue] = _values("Subject title, exact; repeat for any of several")
    place: list[FilterValue] = _values("Place of origin, exact (any case); repeat for any of several")
    page: int = Field(1, ge=1, le=10000, description="1-based page number")
    page_size: int | None = Field(None, ge=1, le=100, description="Results per page (default SEARCH_DEFAULT_K)")
    k: int | None = Field(None, ge=1, le=100, description="The same as page_size (kept for older clients)")

    @model_validator(mode="before")
    @classmethod
    def _empty_means_absent(cls, data: Any) -> Any:
        # An HTML form sends every field, the empty ones as "". django-ninja hands its query
        # parameters over wrapped in a DjangoGetter: unwrap it so an API call's "date_from=" is absent too.
        if isinstance(data, DjangoGetter) and isinstance(data._obj, dict):
            data = data._obj
        if isinstance(data, dict):
            kept = {}
            for key, value in data.items():
                if isinstance(value, list):
                    value = [item for item in value if item not in ("", None)]
                if value not in ("", None, []):
                    kept[key] = value
            return kept
        return data

    @field_validator("department", "artwork_type", *REPEATABLE_FILTERS)
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold a NUL: such a value could never match, and would fail the query.
        values = value if isinstance(value, list) else [value]
        if any(isinstance(item, str) and "\x00" in item for item in values):
            raise ValueError("must not contain a NUL character")
        return value

    def filters(self) -> SearchFilters:
        try:
            return SearchFilters(
                department=(self.department or "").strip() or None,
                artwork_type=(self.artwork_type or "").strip() or None,
                date_from=self.date_from,
                date_to=self.date_to,
                is_public_domain=self.is_public_domain,
                is_on_view=self.is_on_view,
                has_image=self.has_image,
                **{name: _distinct(getattr(self, name)) for name in REPEATABLE_FILTERS},
            )
        except ValueError as exc:
            raise SearchError(str(exc)) from None

    def size(self) -> int:
        return self.page_size or self.k or settings.SEARCH_DEFAULT_K


class SearchParams(FilterParams):
    q: str = Field("", description="What to look for: words, a name, or a description of a scene")
    mode: Mode = Field(Mode.HYBRID, description="hybrid (both, fused), semantic (CLIP) or keyword (full text)")
    sort: Sort = Field(Sort.RELEVANCE, description="relevance, date (oldest first) or -date (newest first)")

    def query(self) -> str:
        """The query with whitespace collapsed; SearchError when empty or too long."""
        query = " ".join(self.q.split())
        if not query:
            raise SearchError(_("q must not be empty"))
        if len(query) > settings.SEARCH_MAX_QUERY_LENGTH:
            raise SearchError(_("q is longer than %(limit)s characters") % {"limit": settings.SEARCH_MAX_QUERY_LENGTH})
        return query


def _distinct(values: list[str]) -> tuple[str, ...]:
    """The values stripped, each once, sorted: the filter the same whatever order a URL names them in."""
    return tuple(sorted({value.strip() for value in values if value.strip()}))


def request_values(data: QueryDict) -> dict[str, Any]:
    """A form's or a URL's parameters as ``parse`` takes them: each repeatable filter's values as a list."""
    return {key: data.getlist(key) if key in REPEATABLE_FILTERS else data.get(key, "") for key in data}


def _bounds(model: type[pydantic.BaseModel], name: str) -> tuple[Any, Any]:
    field = model.model_fields.get(name)
    low = high = None
    for item in field.metadata if field else []:
        if isinstance(item, annotated_types.Ge):
            low = item.ge
        elif isinstance(item, annotated_types.Le):
            high = item.le
    return low, high


def _choices(model: type[pydantic.BaseModel], name: str) -> str:
    """A choice field's values as a sentence ("'hybrid', 'semantic' or 'keyword'"), or ''."""
    field = model.model_fields.get(name)
    kind = field.annotation if field else None
    if not (isinstance(kind, type) and issubclass(kind, Enum)):
        return ""
    quoted = [repr(str(member.value)) for member in kind]
    if len(quoted) < 2:
        return "".join(quoted)
    return _("%(first)s or %(last)s") % {"first": ", ".join(quoted[:-1]), "last": quoted[-1]}


def describe_errors(
    errors: list[dict[str, Any]], values: Mapping[str, Any], model: type[pydantic.BaseModel] = SearchParams
) -> str:
    """One sentence per bad parameter, e.g. "k must be from 1 to 100, not 0"; ``values`` are the raw parameters."""
    sentences = []
    for error in errors:
        names = [part for part in error.get("loc", ()) if isinstance(part, str) and part not in {"query", "form"}]
        name = names[-1] if names else "request"
        value = error.get("input", values.get(name))
        shown = repr(value[:20]) if isinstance(value, str) else repr(value)
        low, high = _bounds(model, name)
        kind = error.get("type", "")
        known = {"name": name, "low": low, "high": high, "value": value, "shown": shown}
        if kind in {"int_parsing", "int_from_float", "int_type"}:
            if low is not None and high is not None:
                sentences.append(_("%(name)s must be an integer from %(low)s to %(high)s, not %(shown)s") % known)
            else:
                sentences.append(_("%(name)s must be an integer, not %(shown)s") % known)
        elif kind in {"greater_than_equal", "less_than_equal"}:
            sentences.append(_("%(name)s must be from %(low)s to %(high)s, not %(value)s") % known)
        elif kind in {"bool_parsing", "bool_type"}:
            sentences.append(_("%(name)s must be true or false, not %(shown)s") % known)
        elif kind == "enum":
            expected = _choices(model, name) or error.get("ctx", {}).get("expected") or _("one of the listed values")
            sentences.append(_("%(name)s must be %(expected)s") % {"name": name, "expected": expected})
        elif kind == "missing":
            sentences.append(_("%(name)s is required") % known)
        else:
            sentences.append(f"{name}: {error.get('msg', _('is not valid'))}")
    return "; ".join(sentences) or _("bad request")


def parse(model: type[FilterParams], data: dict[str, Any]) -> Any:
    """Validate request parameters outside ninja (the HTML pages); SearchError with a readable message."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise SearchError(describe_errors([dict(error) for error in exc.errors()], data, model)) from None
