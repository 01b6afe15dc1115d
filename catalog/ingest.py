"""Storing AIC records: validate, compare content hashes, and upsert in bulk."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from django.db import transaction

from catalog.models import Artwork
from catalog.records import ParsedRecord, RecordError, parse_record, record_updated_at
from catalog.signals import artworks_need_embedding

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
    """Upsert every valid record; quarantine the others in ``counts.errors``. Idempotent."""
    iterator = iter(records)
    while chunk := list(islice(iterator, _CHUNK)):
        _ingest_chunk(chunk, counts)
    return counts


def _ingest_chunk(chunk: list[Any], counts: IngestCounts) -> None:
    parsed: dict[int, ParsedRecord] = {}
    for record in chunk:
        counts.seen += 1
        try:
            item = parse_record(record)
        except RecordError as exc:
            counts.quarantine(record, str(exc))
            continue
        parsed[item.aic_id] = item  # a later copy of the same id in one chunk wins
    if not parsed:
        return
    existing = {
        aic_id: (content_hash, image_id)
        for aic_id, content_hash, image_id in Artwork.objects.filter(aic_id__in=parsed).values_list(
            "aic_id", "content_hash", "image_id"
        )
    }
    to_write: list[Artwork] = []
    image_changed: list[int] = []
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
            image_changed.append(aic_id)
        to_write.append(Artwork(aic_id=aic_id, content_hash=item.content_hash, **item.fields))
    if not to_write:
        return
    with transaction.atomic():
        Artwork.objects.bulk_create(
            to_write,
            update_conflicts=True,
            unique_fields=["aic_id"],
            update_fields=[*_HARVESTED_FIELDS, "content_hash", "updated_at"],
        )
        if image_changed:
            ids = list(Artwork.objects.filter(aic_id__in=image_changed).values_list("pk", flat=True))
            counts.needs_embedding.extend(ids)
            transaction.on_commit(lambda: artworks_need_embedding.send(sender=Artwork, artwork_ids=ids))


_HARVESTED_FIELDS = [
    "title",
    "artist_display",
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
