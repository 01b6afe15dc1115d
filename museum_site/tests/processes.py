"""Real processes for fault tests: a private Redis to restart, Celery workers to kill, an embedded
PostgreSQL to restart. Each test gets its own, so a fault never reaches another test or another
run of the suite on the same machine."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import requests
from celery import Celery

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> float:
    """Poll until ``condition`` holds; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f}s")


class RedisServer:
    """A redis-server of our own on a free port, persisting every write (appendfsync always), as
    production's Redis persists with appendonly: a restart keeps queued and unacknowledged tasks."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=(self.folder / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_for(self.answers, 20, f"redis-server on port {self.port}")

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url(), socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """Stop it the hard way, as a crash or an OOM kill would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def client_app(broker_url: str) -> Celery:
    """A Celery client of ``broker_url`` that routes tasks as the site does."""
    from django.conf import settings

    app = Celery("fault-test-client", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_routes=settings.CELERY_TASK_ROUTES,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
    )
    return app


def worker_env(**overrides: str) -> dict[str, str]:
    """The environment of a worker on the production settings module, for the test services."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "museum_site.settings"
    env.update(overrides)
    return env


def fault_worker_env(
    broker_url: str, aic: Any, database_url: str, image_cache: Path, **overrides: str
) -> dict[str, str]:
    """A worker's environment for a fault test: its own broker, the fake AIC server, its own image
    cache, and quick redelivery (a 30 s visibility timeout over a 20 s task limit)."""
    return worker_env(
        DATABASE_URL=database_url,
        REDIS_URL=broker_url,
        CELERY_BROKER_URL=broker_url,
        AIC_API_URL=aic.api_url,
        AIC_IIIF_URL=aic.iiif_url,
        IMAGE_CACHE_DIR=str(image_cache),
        CELERY_TASK_SOFT_TIME_LIMIT="10",
        CELERY_TASK_TIME_LIMIT="20",
        CELERY_VISIBILITY_TIMEOUT="30",
        CELERY_UNACKED_RESTORE_INTERVAL="1",
        **overrides,
    )


def worker_command(queues: str, concurrency: int, name: str) -> list[str]:
    """``celery worker`` for these queues, prefork, without the cluster chatter a test never needs."""
    return [
        sys.executable, "-m", "celery", "-A", "museum_site", "worker", "-Q", queues, "-c", str(concurrency),
        "-P", "prefork", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
        "-n", f"{name}-{os.getpid()}-{time.monotonic_ns()}@%h",
    ]  # fmt: skip


class Worker:
    """``celery worker`` in its own process group: SIGKILL its pool process (an OOM kill) or the
    whole group (a machine lost), and start it again."""

    def __init__(self, env: dict[str, str], queues: str, log: Path, concurrency: int = 1) -> None:
        self.env = env
        self.queues = queues
        self.log = log
        self.concurrency = concurrency
        self.process: subprocess.Popen[bytes] | None = None
        self.client = client_app(env["CELERY_BROKER_URL"])

    def start(self) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            worker_command(self.queues, self.concurrency, "fault"),
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited: {self.log_tail()}")
            if self.pool_pids() and self.client.control.ping(timeout=0.5):
                return
            time.sleep(0.2)
        raise RuntimeError(f"celery worker did not answer: {self.log_tail()}")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pool_pids(self) -> list[int]:
        """The pool processes that run tasks (children of the main worker process)."""
        if not self.alive:
            return []
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def kill_pool_process(self) -> int:
        pid = self.pool_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill(self) -> None:
        """SIGKILL the main process and its pool at once: nothing is acknowledged or given back."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if not self.alive:
            return
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


class EmbeddedPostgres:
    """An embedded PostgreSQL + pgvector server of our own, in its own data folder.

    Started and stopped through ``devtools.embedded_postgres`` in a subprocess, as an operator
    would, so this process keeps no handle that a restart makes stale."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self.url = ""

    def _run(self, action: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "devtools.embedded_postgres", action, "--pgdata", str(self.pgdata)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip().splitlines()[-1]

    def start(self) -> str:
        self.url = self._run("start")
        return self.url

    def stop(self) -> None:
        self._run("stop")

    def manage(self, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """Run ``manage.py`` against this server."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**env, "DATABASE_URL": self.url},
            capture_output=True,
            text=True,
            check=True,
        )

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url, connect_timeout=5) as connection:
            return connection.execute(sql, params).fetchall()


@dataclass(frozen=True)
class WebProcess:
    url: str
    worker_pid: int


@contextlib.contextmanager
def one_worker_gunicorn(env: dict[str, str], log: Path) -> Iterator[WebProcess]:
    """gunicorn with one worker of two threads, as a web container runs it, in ``env``; stopped on exit."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "museum_site.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    process = subprocess.Popen(
        [*command, "--workers", "1", "--threads", "2"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return requests.get(f"{url}/livez", timeout=5).status_code == 200
        except requests.RequestException:
            return process.poll() is not None

    try:
        wait_for(answers, 60, "gunicorn answering")
        assert process.poll() is None, log.read_text()[-3000:]
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(children) == 1
        yield WebProcess(url, int(children[0]))
    finally:
        process.terminate()
        process.wait(30)
