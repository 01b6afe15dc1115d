"""Signals the catalog sends; other apps listen without the catalog knowing them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after commit with ``artwork_ids`` (primary keys) of artworks that are new or whose image changed,
# and with ``artwork_ids`` a curator asked to re-embed (``reason="reembed"``).
artworks_need_embedding = Signal()
