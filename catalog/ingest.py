"""Storing AIC records: validate, compare content hashes, and upsert in bulk."""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

import orjson
import psycopg
from django.db import connection, transaction

from catalog.models import Artwork
from catalog.records import ParsedRecord, RecordError, parse_record, record_updated_at
from catalog.signals import artworks_changed, artworks_need_embedding

_CHUNK = 500
_MAX_ERRORS_KEPT = 1000


@dataclass
class IngestCounts:
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    # updated_at of records that could not be stored: the next incremental run must reach them again.
    failed_updated_at: list[datetime] = field(default_factory=list)
    needs_embedding: list[int] = field(default_factory=list)

    def quarantine(self, record: Any, reason: str) -> None:
        self.failed += 1
        if len(self.errors) < _MAX_ERRORS_KEPT:
            aic_id = record.get("id") if isinstance(record, dict) else None
            self.errors.append({"aic_id": aic_id if isinstance(aic_id, (int, str)) else None, "reason": reason})
        updated_at = record_updated_at(record)
        if updated_at is not None:
            self.failed_updated_at.append(updated_at)


def ingest_records(records: Iterable[Any], counts: IngestCounts) -> IngestCounts:
    """Upsert every valid record; quarantine the others in ``counts.errors``. Idempotent.

    Records go in chunks. While PostgreSQL stores one chunk (a writer thread on this thread's
    own connection), this thread parses the next: the two costs overlap instead of adding up.
    Each chunk is committed on its own (a savepoint inside a caller's transaction).
    """
    iterator = iter(records)
    connection.ensure_connection()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer") as writer:
        writing: Future[_Written] | None = None
        try:
            while chunk := list(islice(iterator, _CHUNK)):
                parsed = _parse_chunk(chunk, counts)
                if writing is not None:
                    _written(writing.result(), counts)
                    writing = None
                to_write, image_changed = _changes(parsed, counts)
                if to_write:
                    parameters = _upsert_parameters(to_write)  # here: the writer only waits on PostgreSQL
                    writing = writer.submit(_upsert, connection.connection, parameters, image_changed)
            if writing is not None:
                _written(writing.result(), counts)
        finally:
            if writing is not None:
                writing.cancel()
    return counts


@dataclass(frozen=True)
class _Written:
    stored: dict[int, int]  # primary key by AIC id
    image_changed: set[int]  # AIC ids


def _parse_chunk(chunk: list[Any], counts: IngestCounts) -> dict[int, ParsedRecord]:
    parsed: dict[int, ParsedRecord] = {}
    for record in chunk:
        counts.seen += 1
        try:
            item = parse_record(record)
        except RecordError as exc:
            counts.quarantine(record, str(exc))
            continue
        parsed[item.aic_id] = item  # a later copy of the same id in one chunk wins
    return parsed


def _changes(parsed: dict[int, ParsedRecord], counts: IngestCounts) -> tuple[list[ParsedRecord], set[int]]:
    """The records that are new or changed, and the AIC ids among them whose image is new."""
    if not parsed:
        return [], set()
    existing = {
        aic_id: (content_hash, image_id)
        for aic_id, content_hash, image_id in Artwork.objects.filter(aic_id__in=parsed).values_list(
            "aic_id", "content_hash", "image_id"
        )
    }
    to_write: list[ParsedRecord] = []
    image_changed: set[int] = set()
    for aic_id, item in parsed.items():
        before = existing.get(aic_id)
        if before is not None and before[0] == item.content_hash:
            counts.unchanged += 1
            continue
        if before is None:
            counts.created += 1
        else:
            counts.updated += 1
        if item.fields["image_id"] and (before is None or before[1] != item.fields["image_id"]):
            image_changed.add(aic_id)
        to_write.append(item)
    return to_write, image_changed


def _written(written: _Written, counts: IngestCounts) -> None:
    if written.stored:
        transaction.on_commit(lambda: artworks_changed.send(sender=Artwork))
    ids = [pk for aic_id, pk in written.stored.items() if aic_id in written.image_changed]
    if ids:
        counts.needs_embedding.extend(ids)
        # Immediately when the chunk is committed; inside a caller's transaction, when that commits.
        transaction.on_commit(lambda: artworks_need_embedding.send(sender=Artwork, artwork_ids=ids))


def _upsert_parameters(items: list[ParsedRecord]) -> list[Any]:
    """The parameters of _UPSERT_SQL for these records: one array per column."""
    columns: list[list[Any]] = [[item.aic_id for item in items]]
    for name, _ in _STAGED[1:-2]:
        values = [item.fields[name] for item in items]
        # Lists of titles vary in length per row, which a 2-D array cannot: they travel as JSON.
        columns.append([orjson.dumps(value).decode() for value in values] if name in _LISTS else values)
    columns.append([item.raw_json or json.dumps(item.fields["raw"], ensure_ascii=False) for item in items])
    columns.append([item.content_hash for item in items])
    return [*_curation_defaults(), *columns]


def _upsert(raw: psycopg.Connection[Any], parameters: list[Any], image_changed: set[int]) -> _Written:
    """Insert or update a chunk of records (``_upsert_parameters``) in one transaction of ``raw`` (the
    caller's psycopg connection).

    One INSERT … SELECT FROM unnest(…) ON CONFLICT takes the whole chunk as one array per
    column, sent in binary: no SQL text to build, escape or parse per value, and no staging
    table to write and read back (which is most of what an ORM bulk insert of large records
    costs PostgreSQL and Python).
    """
    # A server-side binding cursor: the arrays go in binary, not spelled out in the SQL.
    with raw.transaction(), psycopg.Cursor(raw) as cursor:
        cursor.execute(_UPSERT_SQL, parameters)
        stored = {aic_id: pk for pk, aic_id in cursor.fetchall()}
    return _Written(stored, image_changed)


_HARVESTED_FIELDS = [
    "title",
    "artist_display",
    "artist_title",
    "date_display",
    "date_start",
    "date_end",
    "place_of_origin",
    "medium_display",
    "dimensions",
    "description_html",
    "description",
    "short_description",
    "alt_text",
    "department_title",
    "artwork_type_title",
    "classification_titles",
    "style_titles",
    "subject_titles",
    "term_titles",
    "is_public_domain",
    "is_on_view",
    "image_id",
    "aic_updated_at",
    "raw",
]

# PostgreSQL types of the harvested fields that are not text.
_FIELD_TYPES = {
    "date_start": "int4",
    "date_end": "int4",
    "classification_titles": "text[]",
    "style_titles": "text[]",
    "subject_titles": "text[]",
    "term_titles": "text[]",
    "is_public_domain": "bool",
    "is_on_view": "bool",
    "aic_updated_at": "timestamptz",
}
_LISTS = {name for name, type_name in _FIELD_TYPES.items() if type_name == "text[]"}
_STAGED = [
    ("aic_id", "int4"),
    *[(name, _FIELD_TYPES.get(name, "text")) for name in _HARVESTED_FIELDS if name != "raw"],
    ("raw", "jsonb"),
    ("content_hash", "text"),
]


def _curation_fields() -> list[Any]:
    """Artwork's fields that harvests never write (curators' edits): new rows get their defaults."""
    harvested = {name for name, _ in _STAGED} | {"id", "created_at", "updated_at"}
    return [
        field
        for field in Artwork._meta.concrete_fields
        if field.column not in harvested and not getattr(field, "generated", False)
    ]


def _curation_defaults() -> list[Any]:
    return [field.get_default() for field in _curation_fields()]


def _upsert_sql() -> str:
    staged = [name for name, _ in _STAGED]
    curation = [str(field.column) for field in _curation_fields()]
    updated = [name for name in staged if name != "aic_id"]
    # Every column arrives as an array (lists of titles as JSON text, raw as JSON text), in binary (%b):
    # psycopg escapes text arrays in Python, a hundred times slower.
    arrays = ", ".join(
        "%b::text[]" if name in _LISTS or type_name == "jsonb" else f"%b::{type_name}[]" for name, type_name in _STAGED
    )
    selected = [
        f"ARRAY(SELECT jsonb_array_elements_text(u.{name}::jsonb))"
        if name in _LISTS
        else f"u.{name}::jsonb"
        if type_name == "jsonb"
        else f"u.{name}"
        for name, type_name in _STAGED
    ]
    return (
        f"INSERT INTO {Artwork._meta.db_table} ({', '.join([*staged, *curation, 'created_at', 'updated_at'])}) "
        f"SELECT {', '.join(selected)}, {', '.join(['%s'] * len(curation))}, now(), now() "
        f"FROM unnest({arrays}) AS u({', '.join(staged)}) "
        f"ON CONFLICT (aic_id) DO UPDATE SET {', '.join(f'{name} = EXCLUDED.{name}' for name in updated)}, "
        "updated_at = EXCLUDED.updated_at RETURNING id, aic_id"
    )


_UPSERT_SQL = _upsert_sql()
