"""`make demo` stopped by signals to its whole process group stops every process it started.

A stop rarely comes alone: `timeout`, a supervisor or a second Ctrl-C signal the whole group, and make
forwards the signal once more, so a second signal arrives in the middle of the demo's shutdown. The demo
runs here for real (`python -m devtools.demo`, in a session of its own) with a VAR_DIR of the test's
own: its own redis-server (none answers at its REDIS_URL), fake AIC server, embedded PostgreSQL, Celery
worker and beat. Every process it started is known as its descendant or by the VAR_DIR in its
environment (PostgreSQL runs detached), and PostgreSQL also by its postmaster.pid.

Two moments: once the worker and beat run (it is then embedding), SIGTERM twice; and while a command in
the demo's own group trains the model (the group's signals reach it too), SIGINT, then SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from museum_site.tests.processes import ROOT, free_port, wait_for

# What the suite's settings put in the environment for its own processes; the demo chooses its own.
SUITE_ONLY = (
    "DATABASE_URL",
    "EMBEDDED_PGDATA",
    "MUSEUM_TEST_TMP",
    "MUSEUM_TEST_STARTED_PG",
    "IMAGE_CACHE_DIR",
    "MODEL_CACHE_DIR",
    "TRAINING_DIR",
    "SECRET_KEY",
    "CLIP_MODEL_CONFIG_DIRS",
)
STOP_WITHIN_S = 60


# A whole start (migrations, harvest, activation, workers) takes one to two minutes on 2 cores: make test-faults.
@pytest.mark.faults
def test_two_sigterms_to_the_group_after_start_stop_every_process(tmp_path: Path) -> None:
    var = tmp_path / "var"
    _seed_museum_tiny(var / "models" / "museum-tiny" / "checkpoint.pt")  # a cached model: no training
    with DemoRun(var, tmp_path / "demo.out") as demo:
        demo.wait_until(
            lambda: (
                _log_has(var / "logs" / "worker.log", " ready.")
                and _log_has(var / "logs" / "beat.log", "beat: Starting")
            ),
            "the demo's Celery worker and beat",
        )
        started = demo.processes()
        _assert_among(started, "redis-server", "postgres", "fake_aic", "celery worker", "celery beat")

        demo.stop_twice(signal.SIGTERM, signal.SIGTERM)

        demo.assert_all_gone(started)


def test_sigint_then_sigterm_to_the_group_while_it_trains_stop_every_process(tmp_path: Path) -> None:
    var = tmp_path / "var"
    with DemoRun(var, tmp_path / "demo.out", DEMO_EPOCHS="30") as demo:
        demo.wait_until(lambda: _log_has(demo.out, " train, "), "training")
        started = demo.processes()
        _assert_among(started, "redis-server", "postgres", "fake_aic", "finetune_clip")

        demo.stop_twice(signal.SIGINT, signal.SIGTERM)

        demo.assert_all_gone(started)


class DemoRun:
    """`python -m devtools.demo` in a session of its own; whatever it leaves behind is killed afterwards."""

    def __init__(self, var: Path, out: Path, **overrides: str) -> None:
        self.var = var
        self.out = out
        self.env = {name: value for name, value in os.environ.items() if name not in SUITE_ONLY}
        self.env.update(
            DJANGO_SETTINGS_MODULE="museum_site.settings",
            VAR_DIR=str(var),
            PORT=str(free_port()),
            FAKE_AIC_PORT=str(free_port()),
            REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
            # A model that needs no download, wherever huggingface.co answers (registered as `clip`) or not
            # (then the demo's museum-tiny: the cached checkpoint, or training).
            DEMO_MODEL="museum-tiny:none",
            DEMO_EPOCHS="1",
            # PostgreSQL's own default: no restart to resize it.
            EMBEDDED_PG_SHARED_BUFFERS_MB="128",
        )
        self.env.update(overrides)
        self.seen: set[psutil.Process] = set()
        self.began = time.monotonic()

    def __enter__(self) -> DemoRun:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.demo"],
            cwd=ROOT,
            env=self.env,
            stdout=self.out.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        for process in self.seen | set(self.processes()):
            with contextlib.suppress(psutil.Error):
                process.kill()

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        def ready() -> bool:
            self.processes()  # noted while the demo lives, to clean up after a failure
            if self.process.poll() is not None:
                raise AssertionError(f"the demo exited ({self.process.returncode}):\n{self.tail()}")
            return condition()

        wait_for(ready, 240, what, interval=0.5)
        print(f"{what}: {time.monotonic() - self.began:.1f} s after the start")

    def processes(self) -> list[psutil.Process]:
        """Every live process the demo started: its descendants, and any process whose environment names
        its VAR_DIR (PostgreSQL runs detached)."""
        found = set()
        with contextlib.suppress(psutil.Error):
            found.update(psutil.Process(self.process.pid).children(recursive=True))
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if process.environ().get("VAR_DIR") == str(self.var):
                    found.add(process)
        live = sorted((process for process in found if _alive(process)), key=lambda process: process.pid)
        self.seen.update(live)
        return live

    def stop_twice(self, first: int, second: int) -> None:
        """Signal the demo's group; once its shutdown has begun, signal it again; it must end within bounds."""
        signalled = time.monotonic()
        os.killpg(self.process.pid, first)
        # The second signal must find the shutdown under way: two sent at once would be taken as one.
        wait_for(lambda: _log_has(self.out, "demo: stopping"), 10, "the demo's shutdown", interval=0.01)
        os.killpg(self.process.pid, second)
        try:
            self.process.wait(STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the demo still ran {STOP_WITHIN_S} s after the signals:\n{self.tail()}")
        print(
            f"the demo exited {time.monotonic() - signalled:.1f} s after the first signal ({self.process.returncode})"
        )

    def assert_all_gone(self, started: list[psutil.Process]) -> None:
        # No grace: whatever still runs once the demo has exited was left behind.
        left = {process for process in started if _alive(process)} | set(self.processes())
        described = [_describe(process) for process in sorted(left, key=lambda process: process.pid)]
        pid_file = self.var / "pgdata" / "postmaster.pid"
        if pid_file.exists() and psutil.pid_exists(pid := int(pid_file.read_text().split()[0])):
            described.append(f"the embedded PostgreSQL (postmaster.pid: {pid})")
        assert not described, "left running:\n" + "\n".join(described) + f"\n\ndemo output:\n{self.tail()}"

    def tail(self, chars: int = 4000) -> str:
        return self.out.read_text(errors="replace")[-chars:]


def _assert_among(started: list[psutil.Process], *names: str) -> None:
    commands = [_describe(process) for process in started]
    for name in names:
        assert any(all(word in command for word in name.split()) for command in commands), (name, commands)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _describe(process: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return f"{process.pid}: {' '.join(process.cmdline())}"
    return str(process.pid)


def _log_has(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text(errors="replace")


def _seed_museum_tiny(checkpoint: Path) -> None:
    """Seeded random weights where the demo caches its trained museum-tiny, as a previous run leaves them."""
    import open_clip
    import torch

    from embeddings.encoders.clip import register_model_configs

    register_model_configs()
    torch.manual_seed(0)
    model = open_clip.create_model("museum-tiny", pretrained=None)
    checkpoint.parent.mkdir(parents=True)
    torch.save({"state_dict": model.state_dict()}, checkpoint)
