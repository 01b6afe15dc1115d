"""/metrics under gunicorn with two worker processes and PROMETHEUS_MULTIPROC_DIR, as the web image runs
it (museum_site/gunicorn_config.py): every request is counted whichever process served it, including
processes that have since died; counts left by an earlier run are wiped at start; an exited worker's live
gauges are dropped. The container's health check answers from the same gunicorn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from museum_site.tests.processes import ROOT, free_port, wait_for, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Site:
    process: subprocess.Popen[bytes]
    port: int
    folder: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> set[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return {int(pid) for pid in children}

    def livez(self) -> None:
        # A new connection each time, so that either process may take it.
        response = requests.get(f"{self.url}/livez", headers={"Connection": "close"}, timeout=10)
        assert response.status_code == 200

    def livez_count(self) -> float:
        response = requests.get(f"{self.url}/metrics", timeout=30)
        assert response.status_code == 200, response.text[:500]
        for family in text_string_to_metric_families(response.text):
            if family.name == "museum_http_request_duration_seconds":
                return sum(
                    sample.value
                    for sample in family.samples
                    if sample.name.endswith("_count") and sample.labels.get("route") == "livez"
                )
        return 0.0


@pytest.fixture
def site(test_database_url: str, tmp_path: Path) -> Iterator[Site]:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    # What a previous run of the container left in the folder (a tmpfs survives a gunicorn restart).
    (folder / "counter_999999.db").write_bytes(b"counts of a process from the previous run")
    port = free_port()
    env = worker_env(
        DATABASE_URL=test_database_url,
        PROMETHEUS_MULTIPROC_DIR=str(folder),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        RATE_LIMIT_BUDGET="0",
        LOG_LEVEL="WARNING",
    )
    env.pop("METRICS_TOKEN", None)
    log = tmp_path / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", "museum_site.wsgi:application",
               "--config", "python:museum_site.gunicorn_config", "--bind", f"127.0.0.1:{port}",
               "--workers", "2", "--threads", "2", "--timeout", "60"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    site = Site(process, port, folder, log)
    try:
        wait_for(lambda: process.poll() is not None or len(site.workers()) == 2, 60, "two gunicorn workers")
        assert process.poll() is None, log.read_text()[-3000:]
        yield site
    finally:
        process.terminate()
        process.wait(30)


def _health_check(port: int, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "museum_site.container_health", "web", str(port)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_metrics_add_up_every_worker_process_the_dead_included(site: Site) -> None:
    env = {**os.environ, "ALLOWED_HOSTS": "127.0.0.1"}
    wait_for(lambda: _health_check(site.port, env).returncode == 0, 60, "the container health check passing")
    assert not (site.folder / "counter_999999.db").exists()  # wiped at start, not added to this run's counts
    before = site.livez_count()  # the health check's own requests, counted by whichever process took them

    for _ in range(10):
        site.livez()
    first, second = sorted(site.workers())
    # A live gauge of the worker about to die, as prometheus_client names them (multiprocess_mode="livesum").
    live_gauge = site.folder / f"gauge_livesum_{first}.db"
    live_gauge.write_bytes(b"")
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: len(site.workers() - {first}) == 2, 60, "gunicorn replacing the killed worker")
    assert not live_gauge.exists()  # child_exit marked the process dead
    for _ in range(10):
        site.livez()
    os.kill(second, signal.SIGKILL)
    wait_for(lambda: len(site.workers() - {first, second}) == 2, 60, "gunicorn replacing the other worker")

    # Both original workers are gone; their counts are still in the total, read by a process that served none.
    assert site.livez_count() == before + 20
    processes = {path.stem.rsplit("_", 1)[1] for path in site.folder.glob("histogram_*.db")}
    assert len(processes) >= 2, sorted(processes)


def test_the_health_check_fails_where_nothing_answers(tmp_path: Path) -> None:
    result = _health_check(free_port(), {**os.environ, "ALLOWED_HOSTS": "127.0.0.1"})
    assert result.returncode == 1 and "/livez" in result.stderr
