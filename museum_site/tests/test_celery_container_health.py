"""Celery as the worker image runs it: the worker's heartbeats and beat's ticks keep CELERY_HEARTBEAT_FILE
fresh, which the containers' health check reads; and the site's publishers and workers send the task
events that the Prometheus Celery exporter reads from the broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from museum_site.tests.processes import ROOT, RedisServer, client_app, wait_for, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

QUEUE = "container-health-test"


def _health(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "museum_site.container_health", "celery"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture
def env(broker: RedisServer, test_database_url: str, tmp_path: Path) -> dict[str, str]:
    return worker_env(
        DATABASE_URL=test_database_url,
        REDIS_URL=broker.url(),
        CELERY_BROKER_URL=broker.url(),
        CELERY_HEARTBEAT_FILE=str(tmp_path / "heartbeat"),
    )


@pytest.fixture
def process(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for child in started:
        child.terminate()
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _worker_command(name: str) -> list[str]:
    """A worker as the image runs one: with heartbeats (the fault tests' workers run without)."""
    return [sys.executable, "-m", "celery", "-A", "museum_site", "worker", "-Q", QUEUE, "-c", "1", "-n", f"{name}@%h"]


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def test_a_worker_is_healthy_while_its_heartbeats_come_and_unhealthy_once_they_stop(
    env: dict[str, str], process: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    first = _health(env)
    assert first.returncode == 1 and "no heartbeat yet" in first.stderr
    log = tmp_path / "worker.log"
    worker = _start(_worker_command("health"), env, log)
    process.append(worker)
    wait_for(lambda: worker.poll() is not None or _health(env).returncode == 0, 60, "a heartbeat")
    assert worker.poll() is None, log.read_text()[-3000:]

    worker.send_signal(signal.SIGSTOP)  # a hung main loop sends no heartbeat
    try:
        stale = time.time() - 120
        os.utime(env["CELERY_HEARTBEAT_FILE"], (stale, stale))
        time.sleep(3)  # more than a heartbeat interval
        hung = _health(env)
        assert hung.returncode == 1 and "last heartbeat" in hung.stderr
    finally:
        worker.send_signal(signal.SIGCONT)
    wait_for(lambda: _health(env).returncode == 0, 30, "heartbeats again")


def test_beat_touches_the_heartbeat_file_at_each_tick(
    env: dict[str, str], process: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    log = tmp_path / "beat.log"
    command = [sys.executable, "-m", "celery", "-A", "museum_site", "beat", "-l", "INFO",
               "-S", "museum_site.beat_scheduler:HeartbeatScheduler", "--pidfile", str(tmp_path / "beat.pid")]  # fmt: skip
    beat = _start(command, env, log)
    process.append(beat)
    wait_for(lambda: beat.poll() is not None or _health(env).returncode == 0, 60, "beat's first tick")
    assert beat.poll() is None, log.read_text()[-3000:]
    touched = Path(env["CELERY_HEARTBEAT_FILE"]).stat().st_mtime
    wait_for(lambda: Path(env["CELERY_HEARTBEAT_FILE"]).stat().st_mtime > touched, 30, "another tick")


def test_the_site_sends_the_task_events_the_exporter_reads(
    env: dict[str, str], broker: RedisServer, process: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    client = client_app(broker.url())
    events: list[dict[str, Any]] = []
    with client.connection_for_read() as connection:
        receiver = client.events.Receiver(connection, handlers={"*": events.append})
        listening = threading.Thread(target=receiver.capture, kwargs={"limit": None, "timeout": None}, daemon=True)
        listening.start()
        try:
            worker = _start(_worker_command("events"), env, tmp_path / "worker.log")
            process.append(worker)
            wait_for(lambda: any(e["type"] == "worker-online" for e in events), 60, "the worker online")
            # Published by the site's own Celery app, as web processes and beat publish.
            subprocess.run(
                [sys.executable, "-c",
                 f"from museum_site.celery import app; app.send_task('celery.backend_cleanup', queue={QUEUE!r})"],
                cwd=ROOT, env=env, check=True, timeout=60,
            )  # fmt: skip
            wanted = {"task-sent", "task-received", "task-started", "task-succeeded"}
            wait_for(lambda: wanted <= {e["type"] for e in events}, 60, "the task's events")
        finally:
            receiver.should_stop = True
            listening.join(10)
