"""Withdrawing the artworks the source no longer lists, and restoring those it lists again.

A complete walk of the whole collection (a full API harvest, a scheduled reconcile, a full dump
import) marks every record it lists with the walk's id. When it ends, the artworks it did not
mark are withdrawn: hidden from search, their vectors and cached images removed by whoever
listens to ``artworks_withdrawn``. The record itself is kept, so a record the source lists
again is restored, curation and all. Nothing is withdrawn after a walk that did not finish.

Two guards stand between a walk and a withdrawal. An API walk pages through a list that moves
while it is read (a record removed ahead of the walk shifts the rest up a place), so every
artwork it missed is looked up by id before it is withdrawn. And a walk that would withdraw
more than AIC_MAX_WITHDRAW_FRACTION of the collection (the source answering half a list, a
dump folder copied in part) withdraws nothing: it says why and waits for a curator.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from catalog.aic_client import AICClient
from catalog.ingest import IngestCounts, ingest_records
from catalog.models import Artwork, SyncRun
from catalog.records import AIC_FIELDS
from catalog.signals import artworks_changed, artworks_need_embedding, artworks_withdrawn

logger = logging.getLogger(__name__)

_LOOKUP_BATCH = 100  # ids per look-up request: the API's page limit


class WithdrawalError(RuntimeError):
    """A held withdrawal cannot be approved (a later walk superseded it, or none is held)."""


def mark_listed(aic_ids: list[int], *, walk: SyncRun | None) -> int:
    """Note that the source lists these records: restore those withdrawn, and (for a complete walk)
    mark them seen by ``walk``. Returns how many were restored."""
    if not aic_ids:
        return 0
    table = Artwork._meta.db_table
    with connection.cursor() as cursor:
        if walk is not None:
            # Only rows not yet marked: a page read twice (a continued walk) writes nothing again.
            cursor.execute(
                f"UPDATE {table} SET last_seen_walk = %s WHERE aic_id = ANY(%s) AND last_seen_walk IS DISTINCT FROM %s",
                [walk.pk, aic_ids, walk.pk],
            )
        cursor.execute(
            f"UPDATE {table} SET withdrawn_at = NULL, updated_at = now() "
            "WHERE aic_id = ANY(%s) AND withdrawn_at IS NOT NULL RETURNING id",
            [aic_ids],
        )
        restored = [row[0] for row in cursor.fetchall()]
    if restored:
        logger.info("restored %d withdrawn artworks the source lists again", len(restored))
        transaction.on_commit(lambda: artworks_changed.send(sender=Artwork))
        transaction.on_commit(lambda: artworks_need_embedding.send(sender=Artwork, artwork_ids=restored))
    return len(restored)


def absent_from(walk: SyncRun) -> QuerySet[Artwork]:
    """Artworks in the catalog before ``walk`` began that it did not list and that are not withdrawn.

    Artworks created or changed after the walk ended (by a later incremental harvest) are left out:
    the source listed them since.
    """
    absent = Artwork.objects.filter(withdrawn_at=None, created_at__lt=walk.started_at).filter(
        Q(last_seen_walk__isnull=True) | ~Q(last_seen_walk=walk.pk)
    )
    if walk.finished_at is not None:
        absent = absent.filter(updated_at__lt=walk.finished_at)
    return absent


def reconcile(walk: SyncRun, *, client: AICClient | None = None, allow_mass_withdrawal: bool = False) -> int:
    """Withdraw what the complete ``walk`` did not list; returns how many were withdrawn.

    An API walk looks each missing record up by id first (``client``); those the source still has
    are stored and kept. Over AIC_MAX_WITHDRAW_FRACTION of the collection, unless
    ``allow_mass_withdrawal``, nothing is withdrawn: ``walk.withdrawal_held`` says why.
    """
    walk.refresh_from_db()
    candidates = list(absent_from(walk).order_by("aic_id").values_list("aic_id", flat=True))
    if candidates and walk.is_api:
        candidates = _still_missing(candidates, walk, client)
    if not candidates:
        return 0
    collection = Artwork.objects.filter(withdrawn_at=None).count()
    fraction = len(candidates) / max(collection, 1)
    if fraction > settings.AIC_MAX_WITHDRAW_FRACTION and not allow_mass_withdrawal:
        walk.withdrawal_held = (
            f"This walk would withdraw {len(candidates)} of {collection} artworks ({fraction:.1%}), more than "
            f"AIC_MAX_WITHDRAW_FRACTION ({settings.AIC_MAX_WITHDRAW_FRACTION:.1%}). Nothing was withdrawn: check the "
            "source, then approve it (admin: harvest runs, 'Approve held withdrawals') or run the walk again with "
            "--allow-mass-withdrawal."
        )
        walk.save(update_fields=["withdrawal_held"])
        logger.warning("harvest %s: %s", walk.pk, walk.withdrawal_held)
        return 0
    return _withdraw(walk, candidates)


def approve_held_withdrawal(walk: SyncRun) -> int:
    """Withdraw what a walk held back, once a curator has checked the source; returns how many."""
    walk.refresh_from_db()
    if not walk.withdrawal_held:
        raise WithdrawalError(f"harvest run {walk.pk} holds no withdrawal")
    later = SyncRun.objects.filter(
        full=True, pk__gt=walk.pk, status__in=[SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL]
    )
    if later.exists():
        raise WithdrawalError(f"a later complete walk superseded harvest run {walk.pk}: approve that one instead")
    candidates = list(absent_from(walk).order_by("aic_id").values_list("aic_id", flat=True))
    withdrawn = _withdraw(walk, candidates)
    walk.withdrawal_held = ""
    walk.save(update_fields=["withdrawal_held"])
    return withdrawn


def _still_missing(candidates: list[int], walk: SyncRun, client: AICClient | None) -> list[int]:
    """Of ``candidates``, those the API does not return when asked by id; the others are stored."""
    client = client or AICClient.from_settings()
    missing: list[int] = []
    counts = IngestCounts()
    for start in range(0, len(candidates), _LOOKUP_BATCH):
        batch = candidates[start : start + _LOOKUP_BATCH]
        body = client.get_json(
            "/artworks", {"ids": ",".join(map(str, batch)), "limit": len(batch), "fields": AIC_FIELDS}
        )
        data = body.get("data")
        found = [record for record in data if isinstance(record, dict)] if isinstance(data, list) else []
        listed = {record.get("id") for record in found}
        ingest_records(found, counts)
        mark_listed([aic_id for aic_id in batch if aic_id in listed], walk=walk)
        missing.extend(aic_id for aic_id in batch if aic_id not in listed)
    if len(missing) < len(candidates):
        logger.info(
            "harvest %s: %d artworks the walk missed are still at the source (the list moved while it was read)",
            walk.pk,
            len(candidates) - len(missing),
        )
    return missing


def _withdraw(walk: SyncRun, aic_ids: list[int]) -> int:
    if not aic_ids:
        return 0
    with transaction.atomic():
        rows = list(
            Artwork.objects.filter(aic_id__in=aic_ids, withdrawn_at=None).values_list("pk", "aic_id", "image_id")
        )
        Artwork.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(withdrawn_at=timezone.now())
        artwork_ids = [pk for pk, _, _ in rows]
        image_ids = [image_id for _, _, image_id in rows if image_id]
        transaction.on_commit(lambda: artworks_changed.send(sender=Artwork))
        transaction.on_commit(
            lambda: artworks_withdrawn.send(sender=Artwork, artwork_ids=artwork_ids, image_ids=image_ids)
        )
        SyncRun.objects.filter(pk=walk.pk).update(withdrawn=walk.withdrawn + len(rows))
    walk.withdrawn += len(rows)
    logger.warning(
        "harvest %s withdrew %d artworks the source no longer lists: %s%s",
        walk.pk,
        len(rows),
        ", ".join(str(aic_id) for _, aic_id, _ in rows[:20]),
        " …" if len(rows) > 20 else "",
    )
    return len(rows)
