"""gunicorn settings and hooks of the production web image (`--config python:museum_site.gunicorn_config`).

With PROMETHEUS_MULTIPROC_DIR set, every worker process writes its counts to files there and /metrics
adds up the files of all of them, the dead included (search/metrics.py). The folder is emptied when the
arbiter starts, since counts left by a previous run would be added to this one's, and a worker's live
gauges are dropped when it exits. https://prometheus.github.io/client_python/multiprocess/
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import multiprocess

from museum_site.config_schema import read_str

# Workers' heartbeat files in memory: on a container's overlay filesystem a write may stall long enough for
# the arbiter to take a busy worker for dead. https://docs.gunicorn.org/en/stable/faq.html#blocking-os-fchmod
worker_tmp_dir = "/dev/shm"
# No one runs gunicornc inside the container, and the user's home (the code) is read-only to it.
control_socket_disable = True


def on_starting(server: Any) -> None:
    if folder := read_str("PROMETHEUS_MULTIPROC_DIR"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    if read_str("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
