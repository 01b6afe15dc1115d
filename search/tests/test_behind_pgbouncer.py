"""Behind PgBouncer in transaction mode, a vector search walks with its own ef_search and leaves the setting
to no other client, and the harvest lock holds across a run's transactions."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from django.db import connection, transaction

from catalog.harvest import harvest_lock, sync_from_api
from catalog.models import Artwork, SyncRun
from embeddings.models import ArtworkEmbedding, EmbeddingModel
from search.vector import vector_neighbours

pytestmark = pytest.mark.django_db(transaction=True)

PGVECTOR_DEFAULT_EF_SEARCH = "40"


def _pgbouncer_binary() -> str:
    # Debian installs it in /usr/sbin, which a user's PATH may leave out.
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.fail("pgbouncer is not installed: `make tools` installs it (Debian's pgbouncer package)")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PgBouncer:
    """A PgBouncer process in transaction mode in front of the test database, lending one server connection
    to every client in turn, so whatever a session leaves behind reaches the next client."""

    def __init__(self, binary: str, server: dict[str, Any]) -> None:
        self.binary, self.server = binary, server
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        host, port = self.server["HOST"], self.server["PORT"] or "5432"
        (self.folder / "users.txt").write_text(f'"{self.server["USER"]}" ""\n')
        (self.folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={host} port={port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.folder / 'users.txt'}\n"
            "pool_mode = transaction\ndefault_pool_size = 1\nmax_client_conn = 50\n"
            f"logfile = {self.folder / 'pgbouncer.log'}\npidfile = {self.folder / 'pgbouncer.pid'}\n"
        )
        command = [self.binary, str(self.folder / "pgbouncer.ini")]
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root: run it as the owner of the server's socket folder.
            owner = os.stat(host).st_uid
            os.chown(self.folder, owner, -1)
            for path in self.folder.iterdir():
                os.chown(path, owner, -1)
            command[1:1] = ["-u", pwd.getpwuid(owner).pw_name]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with self.connect():
                    return
            except psycopg.OperationalError:
                time.sleep(0.1)
        log = self.folder / "pgbouncer.log"
        raise RuntimeError(f"pgbouncer did not start: {log.read_text() if log.exists() else 'no log'}")

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            dbname=self.server["NAME"],
            user=self.server["USER"],
            autocommit=True,
            prepare_threshold=None,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def pgbouncer(transactional_db: None, settings: Any, test_database_url: str) -> Iterator[PgBouncer]:
    """The test's Django connection goes through a real PgBouncer in transaction mode, configured as
    DATABASE_POOLER=pgbouncer-transaction configures it; index builds go straight to PostgreSQL."""
    server = connection.settings_dict
    bouncer = PgBouncer(_pgbouncer_binary(), server)
    bouncer.start()
    saved = {key: server.get(key) for key in ("HOST", "PORT", "OPTIONS", "DISABLE_SERVER_SIDE_CURSORS")}
    settings.DATABASE_POOLER = "pgbouncer-transaction"
    settings.DATABASE_DIRECT_URL = test_database_url
    connection.close()
    server.update(
        HOST="127.0.0.1",
        PORT=str(bouncer.port),
        OPTIONS={**server["OPTIONS"], "prepare_threshold": None},
        DISABLE_SERVER_SIDE_CURSORS=True,
    )
    try:
        yield bouncer
    finally:
        connection.close()
        server.update(saved)
        bouncer.stop()


def _through_pgbouncer(bouncer: PgBouncer) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SHOW port")
        assert cursor.fetchone()[0] != str(bouncer.port)  # the server's own port, reached through the pooler
    assert connection.settings_dict["PORT"] == str(bouncer.port)


def test_a_vector_search_sets_ef_search_for_its_own_transaction(
    pgbouncer: PgBouncer, indexed: list[Artwork], embedding_model: EmbeddingModel, settings: Any
) -> None:
    _through_pgbouncer(pgbouncer)
    settings.HNSW_EF_SEARCH = 123
    vector = np.asarray(ArtworkEmbedding.objects.get(artwork=indexed[3], model=embedding_model).vector)

    # More searches than psycopg's prepare threshold: a statement prepared on one server connection
    # would be missing on the next.
    for _ in range(8):
        found = vector_neighbours(embedding_model, vector, 5)
        assert found[0][0].pk == indexed[3].pk
        # The next client lent the one server connection finds pgvector's default, not the search's.
        with pgbouncer.connect() as other:
            assert other.execute("SHOW hnsw.ef_search").fetchone() == (PGVECTOR_DEFAULT_EF_SEARCH,)

    with transaction.atomic():
        vector_neighbours(embedding_model, vector, 5)
        with connection.cursor() as cursor:
            cursor.execute("SHOW hnsw.ef_search")
            assert cursor.fetchone() == ("123",)
            cursor.execute("SHOW hnsw.iterative_scan")
            assert cursor.fetchone() == ("relaxed_order",)


def test_the_harvest_lock_holds_across_transactions(pgbouncer: PgBouncer, aic: Any) -> None:
    _through_pgbouncer(pgbouncer)
    with harvest_lock() as held:
        assert held
        # Through the one server connection a session lock taken by this process would be taken again.
        skipped = sync_from_api(limit=3)
    assert skipped.status == SyncRun.Status.SKIPPED
    assert not Artwork.objects.exists()

    run = sync_from_api(limit=3)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert Artwork.objects.count() == 3
