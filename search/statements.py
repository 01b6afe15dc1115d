"""The two queries every search runs, compiled once per shape and run on psycopg directly.

Building and compiling an ORM query costs about as much as the index scan it runs, and making a
result list of model objects through the ORM costs more again, on every search (bench.ranking_ab
measures a search's cost side by side with another checkout). A ``ListingStatement`` is the
ORM's own SQL for a query, with ``Slot`` parameters where the search's text or vector goes: it
is compiled once per shape (filters, depth) and run with the values bound server-side (a vector
in binary), its rows made into partial artworks by ``Model.from_db`` as the ORM would make them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import connection
from django.db.models import Expression, Field, QuerySet

from catalog.models import Artwork

# What a list of results shows (search/services.py artwork_json, the result grid) and ranks by: a
# candidate list loads these columns alone, not descriptions and records of kilobytes each.
LISTED_FIELDS = (
    "id",
    "aic_id",
    "title",
    "artist_display",
    "date_display",
    "date_start",
    "image_id",
    "alt_text",
    "boost",
)


class Slot(Expression):
    """The place of a search's value (its text, its vector) in a compiled statement, filled when it runs."""

    def __init__(self, name: str, output_field: Field[Any, Any]) -> None:
        super().__init__(output_field=output_field)
        self.name = name

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        return "%s", (self,)


@dataclass(frozen=True)
class ListingStatement:
    """A compiled query whose rows are a score and an artwork's listed fields (in the model's field order)."""

    compiled_sql: str
    params: tuple[Any, ...]
    fields: tuple[str, ...]

    @classmethod
    def compile(
        cls, queryset: QuerySet[Any], score: str, listed: tuple[str, ...], prefix: str = ""
    ) -> ListingStatement:
        """``queryset`` (already sliced or not) as rows of ``score`` and the ``listed`` artwork fields.

        ``prefix`` reaches Artwork from the queryset's model ("artwork__").
        """
        # Model.from_db takes a partial row's values in the model's field order.
        fields = tuple(field.attname for field in Artwork._meta.concrete_fields if field.attname in listed)
        for name in fields:
            # Rows become artworks without Django's converters: a field that needs one would load wrong.
            if hasattr(Artwork._meta.get_field(name), "from_db_value"):
                raise TypeError(f"Artwork.{name} converts values from the database; a listing cannot hold it")
        sql, params = queryset.values_list(score, *(prefix + name for name in fields)).query.sql_with_params()
        return cls(sql, tuple(params), fields)

    def bind(self, **values: Any) -> list[Any]:
        """The parameters, each slot filled with the value of its name."""
        return [values[param.name] if isinstance(param, Slot) else param for param in self.params]

    def run(self, cursor: psycopg.Cursor[Any], **values: Any) -> list[tuple[Artwork, float]]:
        """(artwork, score) for each row, on ``cursor`` (of this thread's connection)."""
        with connection.wrap_database_errors:  # so Django drops a connection that failed
            cursor.execute(self.compiled_sql, self.bind(**values))
            rows = cursor.fetchall()
        return [(Artwork.from_db(connection.alias, self.fields, row[1:]), float(row[0])) for row in rows]
