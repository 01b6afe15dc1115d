"""Signals the catalog sends; other apps listen without the catalog knowing them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after commit with ``artwork_ids`` (primary keys) of artworks that are new or whose image changed,
# and with ``artwork_ids`` a curator asked to re-embed (``reason="reembed"``).
artworks_need_embedding = Signal()

# Sent after commit when artworks were created or changed (a harvest chunk, a curator's bulk action);
# no arguments: listeners drop whatever they derived from the catalog. Single saves and deletes
# send Django's own post_save / post_delete.
artworks_changed = Signal()

# Sent after commit with ``artwork_ids`` (primary keys) and ``image_ids`` of artworks the source no
# longer lists: whatever was derived from them (vectors, cached images) should go.
artworks_withdrawn = Signal()
