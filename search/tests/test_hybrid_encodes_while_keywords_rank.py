"""A hybrid search encodes its query while the database ranks the keyword list, and ranks as if in turn."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from catalog.models import Artwork
from search.fusion import fuse, hybrid_hits
from search.keyword import text_matches
from search.query_cache import cache_key, embed_query
from search.vector import vector_neighbours

pytestmark = pytest.mark.django_db(transaction=True)

QUERY = "portrait of a woman in a landscape"


def _waiting_on_a_lock(admin: psycopg.Connection[Any], pid: int) -> bool:
    row = admin.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
    return row is not None and row[0] == "Lock"


def test_the_query_vector_is_ready_before_the_keyword_list(
    indexed: list[Artwork], embedding_model: Any, redis_client: Any, test_database_url: str
) -> None:
    outcome: dict[str, Any] = {}
    backend = threading.Event()

    def search() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                outcome["pid"] = cursor.fetchone()[0]
            backend.set()
            outcome["hits"] = hybrid_hits(embedding_model, QUERY, 10)
        except Exception as exc:  # reported to the test below
            outcome["error"] = exc
        finally:
            backend.set()
            connection.close()

    key = cache_key(embedding_model, QUERY)
    with psycopg.connect(test_database_url) as admin, psycopg.connect(test_database_url, autocommit=True) as watcher:
        # Until this transaction ends, any statement that reads the artworks waits.
        admin.execute(f"LOCK TABLE {Artwork._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        searching = threading.Thread(target=search)
        searching.start()
        assert backend.wait(30)
        deadline = time.monotonic() + 60
        while not (redis_client.exists(key) and _waiting_on_a_lock(watcher, outcome["pid"])):
            assert searching.is_alive() and "error" not in outcome, outcome
            assert time.monotonic() < deadline, "the query was not encoded while the keyword list waited"
            time.sleep(0.05)
        assert searching.is_alive()  # the keyword list is still waiting for the artworks
        admin.rollback()
    searching.join(60)
    assert "error" not in outcome, outcome
    depth = settings.SEARCH_HYBRID_CANDIDATES
    keyword = [artwork for artwork, _ in text_matches(QUERY, depth)]
    query_vector = embed_query(embedding_model, QUERY)
    semantic = [artwork for artwork, _ in vector_neighbours(embedding_model, query_vector, depth)]
    expected = fuse(keyword, semantic)[:10]
    assert [(hit.artwork.pk, hit.score) for hit in outcome["hits"]] == [(hit.artwork.pk, hit.score) for hit in expected]
    assert outcome["hits"]


def test_a_query_that_cannot_be_encoded_fails_the_search(indexed: list[Artwork], embedding_model: Any) -> None:
    embedding_model.pretrained = "/nowhere/weights.pt"  # another spec: this process has no encoder for it
    with pytest.raises(Exception, match="nowhere"):
        hybrid_hits(embedding_model, QUERY, 10)
