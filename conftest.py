"""Test environment: embedded PostgreSQL+pgvector, a real Redis, a fake AIC server, a real Celery worker."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent
SAMPLE_DIR = ROOT / "sample_data" / "aic"
TEST_MODEL_ARCH = "museum-micro"


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    _start_embedded_database()
    url = os.environ["REDIS_URL"]
    if _redis_answers(url):
        return
    if shutil.which("redis-server") is None:
        raise pytest.UsageError("no Redis answers at REDIS_URL and redis-server is not installed")
    subprocess.run(
        ["redis-server", "--daemonize", "yes", "--port", "6379", "--save", "", "--appendonly", "no"], check=True
    )
    for _ in range(50):
        if _redis_answers(url):
            return
        time.sleep(0.1)
    raise pytest.UsageError("redis-server did not start")


def _start_embedded_database() -> None:
    """The session's database server, where the settings name the embedded one: they never start it."""
    from django.conf import settings

    if getattr(settings, "EMBEDDED_PGDATA", None) is not None:
        from devtools.checkout import start_embedded_database

        start_embedded_database(settings)


def pytest_unconfigure(config: pytest.Config) -> None:
    if tmp := os.environ.get("MUSEUM_TEST_TMP"):
        shutil.rmtree(tmp, ignore_errors=True)
    # A parallel worker leaves the server to the process that started the workers, which ends last.
    started_here = os.environ.get("MUSEUM_TEST_STARTED_PG") == "1" and not os.environ.get("PYTEST_XDIST_WORKER")
    if started_here and not os.environ.get("DATABASE_URL"):
        from devtools.embedded_postgres import stop

        stop(Path(os.environ["EMBEDDED_PGDATA"]))


@pytest.fixture(scope="session")
def redis_client() -> Any:
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.flushdb()
    return client


@pytest.fixture(scope="session")
def sample_aic() -> Iterator[Any]:
    """The bundled sample collection behind a fake AIC server, shared by the whole session."""
    from fake_aic.server import FakeAIC

    with FakeAIC(SAMPLE_DIR).start() as server:
        yield server


@pytest.fixture
def aic(settings: Any, tmp_path: Path) -> Iterator[Any]:
    """A fresh fake AIC server for one test (records and faults can be changed freely), with an empty image cache."""
    from fake_aic.server import FakeAIC

    with FakeAIC(SAMPLE_DIR).start() as server:
        settings.IMAGE_CACHE_DIR = tmp_path / "image_cache"
        settings.AIC_API_URL = server.api_url
        settings.AIC_IIIF_URL = server.iiif_url
        yield server


@pytest.fixture(autouse=True)
def _no_cached_search_results() -> None:
    """Each test starts with every cached search response stale, and the process's own cache (the
    filter menus) empty: the database is emptied between tests without the signals that would say so,
    and a test process runs the tests of many files, in any order."""
    from django.core.cache import cache

    from search.result_cache import bump_generation

    bump_generation()
    cache.clear()


@pytest.fixture(autouse=True)
def _harvests_queue_no_stray_embedding(request: pytest.FixtureRequest) -> Iterator[None]:
    """Keep a test's harvest from queueing work for the session's Celery worker unless the test runs workers.

    Otherwise that worker would embed in the background of unrelated tests and race their setup and teardown.
    """
    marked = request.node.get_closest_marker("faults") or request.node.get_closest_marker("embedding_queue")
    if "celery_worker" in request.fixturenames or marked:
        yield
        return
    from catalog.signals import artworks_need_embedding
    from embeddings.receivers import queue_for_active_model

    artworks_need_embedding.disconnect(queue_for_active_model)
    try:
        yield
    finally:
        artworks_need_embedding.connect(queue_for_active_model)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Any]:
    """A private Redis for one fault test, to kill and restart without touching anyone else's."""
    from museum_site.tests.processes import RedisServer

    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def clip_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Seeded random weights for the micro test architecture, saved as an open_clip checkpoint."""
    import open_clip
    import torch

    from embeddings.encoders.clip import register_model_configs

    register_model_configs()
    torch.manual_seed(0)
    model = open_clip.create_model(TEST_MODEL_ARCH, pretrained=None)
    path = tmp_path_factory.mktemp("clip") / "micro.pt"
    torch.save({"state_dict": model.state_dict()}, path)
    return str(path)


@pytest.fixture
def embedding_model(db: None, clip_checkpoint: str) -> Any:
    """An active model with the micro architecture (registered as a user would)."""
    from embeddings.encoders.registry import register_model

    model = register_model("micro", TEST_MODEL_ARCH, clip_checkpoint)
    model.activate()
    return model


@pytest.fixture(scope="session")
def test_database_url(django_db_setup: None, django_db_blocker: Any) -> str:
    from django.db import connection

    with django_db_blocker.unblock():
        params = connection.settings_dict
        host = params["HOST"]
        user = params["USER"]
        name = params["NAME"]
        if host.startswith("/"):
            return f"postgresql://{user}@/{name}?host={host}"
        return f"postgresql://{user}:{params['PASSWORD']}@{host}:{params['PORT'] or 5432}/{name}"


class WorkerProcess:
    def __init__(self, env: dict[str, str], queues: str, log: Path) -> None:
        self.env = env
        self.queues = queues
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from museum_site.celery import app
        from museum_site.tests.processes import worker_command

        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            worker_command(self.queues, 1, "test"),
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited: {self.log.read_text()[-3000:]}")
            if app.control.ping(timeout=0.5):
                return
        raise RuntimeError(f"celery worker did not answer: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def worker_env(test_database_url: str, sample_aic: Any) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DATABASE_URL=test_database_url, AIC_API_URL=sample_aic.api_url, AIC_IIIF_URL=sample_aic.iiif_url)
    return env


@pytest.fixture(scope="session")
def celery_worker(
    worker_env: dict[str, str], redis_client: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A real Celery worker process consuming the embed and sync queues of the test broker."""
    worker = WorkerProcess(worker_env, "embed,sync,default", tmp_path_factory.mktemp("worker") / "worker.log")
    worker.start()
    yield worker
    worker.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
