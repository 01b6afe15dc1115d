"""`make demo`: the whole site on one machine, started together and stopped together.

Embedded PostgreSQL+pgvector (data under var/), Redis (REDIS_URL, or a local redis-server),
a collection (SOURCE), a CLIP model, a Celery worker and beat, and the web site on PORT.
Ctrl-C, SIGTERM or SIGHUP stops every process this started, however many arrive; a second run reuses var/.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from devtools.checkout import ensure_secret_key

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("VAR_DIR", ROOT / "var")).resolve()
PYTHON = sys.executable


class Demo:
    def __init__(self) -> None:
        self.env = dict(os.environ)
        # Services, each the leader of a session of its own: a signal to the demo's group never reaches them.
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        # Commands the demo waits for (manage.py, apt-get), in its own group: Ctrl-C reaches them too.
        self.commands: list[subprocess.Popen[str]] = []
        self.stop_postgres = False
        self.stopping = False
        self.signals: list[int] = []
        self._deferring = False
        self._deferred = False

    # --- process management -------------------------------------------------
    def on_signal(self, signum: int, frame: object) -> None:
        """SIGINT, SIGTERM, SIGHUP: the first one stops the demo; any later one is noted and ignored.

        A stop rarely comes alone: `timeout`, a supervisor or a second Ctrl-C signal the whole group, and make
        forwards the signal once more. Raising again in the middle of the shutdown would abandon it, and leave
        the services and the detached PostgreSQL running."""
        self.signals.append(signum)
        if self.stopping or len(self.signals) > 1:
            return
        if self._deferring:
            self._deferred = True
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def uninterrupted(self) -> Iterator[None]:
        """Hold a stop until the block is done: a process started but not yet recorded would be left behind."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        if self._deferred:
            raise KeyboardInterrupt

    def spawn(self, name: str, args: list[str], log: str) -> subprocess.Popen[bytes]:
        handle = (VAR / "logs" / log).open("ab")
        with self.uninterrupted():
            process = subprocess.Popen(
                args, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )
            self.children.append((name, process))
        return process

    def command(
        self, args: list[str], capture: bool = False, quiet: bool = False, env: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """Run a command to its end; its exit status and (with ``capture``) its output (``quiet``: not its errors).

        Stopped meanwhile, the demo leaves it in ``commands`` for the shutdown, which sends it SIGTERM (not
        subprocess.run's SIGKILL): it may record where it was (an activation: interrupted), so that the next
        run does not find it still under way."""
        with self.uninterrupted():
            process = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env or self.env,
                text=True,
                stdout=subprocess.PIPE if capture else None,
                stderr=subprocess.DEVNULL if quiet else None,
            )
            self.commands.append(process)
        stdout, _ = process.communicate()
        self.commands.remove(process)
        return process.returncode, stdout or ""

    def manage(self, *args: str, capture: bool = False) -> str:
        returncode, stdout = self.command([PYTHON, "manage.py", *args], capture=capture)
        if returncode != 0:
            raise SystemExit(f"demo: `manage.py {' '.join(args)}` failed (exit {returncode})")
        return stdout

    def shutdown(self) -> None:
        """Stop every process this started: SIGTERM, up to 20 s to finish, then SIGKILL; then PostgreSQL.

        Runs once, and to its end whatever signals arrive meanwhile (``on_signal`` ignores them)."""
        if self.stopping:
            return
        self.stopping = True
        print("\ndemo: stopping…", flush=True)
        # The command in the foreground first (the group's signal may have ended it already), then the
        # services, newest first.
        running: list[tuple[subprocess.Popen[Any], bool]] = [(process, False) for process in self.commands]
        running += [(process, True) for _name, process in reversed(self.children)]
        for process, own_group in running:
            if process.poll() is None:
                _signal(process, signal.SIGTERM, own_group)
        deadline = time.monotonic() + 20
        for process, own_group in running:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                _signal(process, signal.SIGKILL, own_group)
                process.wait()
            if own_group:
                # Whatever its leader left behind in its group (a pool process whose parent went first).
                _signal(process, signal.SIGKILL, own_group)
        if self.stop_postgres:
            self.stop_embedded_postgres()
        print("demo: stopped every process it started.", flush=True)

    def stop_embedded_postgres(self) -> None:
        """Stop the embedded server this started, which runs detached (a session of its own).

        Its stop (pg_ctl) runs in a session of its own as well, so that a signal to the demo's group cannot
        cut it short; a server still there afterwards (or one a stop during its start left unrecorded) gets
        PostgreSQL's immediate shutdown, then SIGKILL."""
        pgdata = VAR / "pgdata"
        stop = subprocess.Popen(
            [PYTHON, "-m", "devtools.embedded_postgres", "stop", "--pgdata", str(pgdata)],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            stop.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(stop.pid, signal.SIGKILL)
            stop.wait()
        for pid in _postmasters(pgdata):
            print(f"demo: PostgreSQL ({pid}) did not stop; shutting it down at once", flush=True)
            _end(pid, signal.SIGQUIT, timeout=10)

    # --- steps ----------------------------------------------------------------
    def configure(self) -> None:
        for folder in ("logs", "models"):
            (VAR / folder).mkdir(parents=True, exist_ok=True)
        # The checkout's own key, which the settings also find for commands run by hand beside the demo.
        self.env.setdefault("SECRET_KEY_FILE", str(ensure_secret_key(VAR)))
        self.env.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
        self.env.setdefault("PYTHONUNBUFFERED", "1")

    def start_redis(self) -> None:
        url = self.env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
        parsed = urlparse(url)
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 6379
        if _port_open(host, port):
            return
        if host not in ("127.0.0.1", "localhost"):
            raise SystemExit(f"demo: no Redis answers at {url}")
        if shutil.which("redis-server") is None:
            if os.geteuid() == 0 and shutil.which("apt-get"):
                print("demo: installing redis-server with apt-get…", flush=True)
                returncode, _ = self.command(
                    ["apt-get", "install", "-y", "-qq", "redis-server"],
                    env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                )
                if returncode != 0:
                    raise SystemExit(f"demo: `apt-get install redis-server` failed (exit {returncode})")
            else:
                raise SystemExit(
                    "demo: Redis is needed: install it (e.g. `sudo apt-get install redis-server`) or set REDIS_URL"
                )
        self.spawn(
            "redis",
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            "redis.log",
        )
        _wait_for_port(host, port, "redis-server")

    def start_postgres(self) -> None:
        if self.env.get("DATABASE_URL"):
            return
        from devtools.embedded_postgres import ensure_running

        pgdata = VAR / "pgdata"
        # Decided before the start, which a stop may interrupt: a server found running is left running.
        self.stop_postgres = not _postmasters(pgdata)
        self.env["DATABASE_URL"] = ensure_running(pgdata)

    def start_fake_aic(self) -> None:
        port = int(self.env.get("FAKE_AIC_PORT", "8001"))
        self.spawn(
            "fake-aic",
            [PYTHON, "-m", "fake_aic", "--data", str(ROOT / "sample_data" / "aic"), "--port", str(port)],
            "fake_aic.log",
        )
        _wait_for_port("127.0.0.1", port, "the sample AIC server")
        self.env["AIC_API_URL"] = f"http://127.0.0.1:{port}/api/v1"
        self.env.setdefault("AIC_IIIF_URL", f"http://127.0.0.1:{port}/iiif/2")
        # Our own local server: no need to keep to AIC's one image per second.
        self.env.setdefault("IIIF_REQUESTS_PER_SECOND", "200")
        self.env.setdefault("AIC_REQUESTS_PER_MINUTE", "6000")

    def load_collection(self) -> None:
        source = self.env.get("SOURCE", "sample")
        if source == "sample":
            self.start_fake_aic()
            print(self.manage("sync_aic", capture=True).strip(), flush=True)
        elif source == "aic":
            print(self.manage("sync_aic", "--limit", self.env.get("DEMO_LIMIT", "1000"), capture=True).strip())
        else:
            print(self.manage("import_aic_dump", source, capture=True).strip(), flush=True)

    def create_admin(self) -> tuple[str, str]:
        password_file = VAR / "admin_password"
        if not password_file.exists():
            password_file.write_text(secrets.token_urlsafe(12))
            password_file.chmod(0o600)
        password = password_file.read_text().strip()
        script = (
            "from django.contrib.auth import get_user_model;"
            "U = get_user_model();"
            "u = U.objects.filter(username='admin').first() or U(username='admin', is_staff=True, is_superuser=True);"
            f"u.set_password({password!r}); u.save()"
        )
        self.manage("shell", "-v", "0", "-c", script)
        return "admin", password

    def ensure_model(self) -> None:
        returncode, stdout = self.command([PYTHON, "manage.py", "embed_status"], capture=True, quiet=True)
        if returncode == 0:
            print(f"demo: using the active model {json.loads(stdout)['model']}", flush=True)
            return
        arch, _, tag = self.env.get("DEMO_MODEL", "ViT-B-32:laion2b_s34b_b79k").partition(":")
        if _port_open("huggingface.co", 443, timeout=3):
            returncode, _ = self.command(
                [PYTHON, "manage.py", "register_model", "clip", "--model", arch, "--pretrained", tag, "--activate"]
            )
            if returncode == 0:
                return
        print(
            f"demo: {arch} weights ({tag}) cannot be downloaded here; falling back to museum-tiny "
            "trained on this collection.",
            flush=True,
        )
        checkpoint = VAR / "models" / "museum-tiny" / "checkpoint.pt"
        if checkpoint.exists():
            self.manage("register_model", "museum-tiny", "--model", "museum-tiny", "--pretrained", str(checkpoint))
        else:
            self.manage(
                "finetune_clip",
                "--from-catalog",
                "--model",
                "museum-tiny",
                "--pretrained",
                "none",
                "--epochs",
                self.env.get("DEMO_EPOCHS", "30"),
                "--batch-size",
                "32",
                "--out",
                str(checkpoint.parent),
                "--register",
                "museum-tiny",
            )
        self.manage("activate_model", "museum-tiny")

    def embed(self) -> None:
        self.manage("embed_missing")
        last = ""
        while True:
            counts = json.loads(self.manage("embed_status", capture=True))
            line = (
                f"demo: embedded {counts['embedded']}, pending {counts['pending']}, failed {counts['failed']}, "
                f"no image {counts['no_image']} ({counts['model']})"
            )
            if line != last:
                print(line, flush=True)
                last = line
            if counts["pending"] == 0:
                return
            if any(process.poll() is not None for name, process in self.children if name == "worker"):
                raise SystemExit("demo: the Celery worker exited; see var/logs/worker.log")
            time.sleep(2)

    def run(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self.on_signal)
        try:
            self.configure()
            self.start_redis()
            self.start_postgres()
            self.manage("migrate", "--noinput", "-v", "0")
            self.manage("collectstatic", "--noinput", "-v", "0")
            user, password = self.create_admin()
            self.load_collection()
            self.ensure_model()
            celery = [PYTHON, "-m", "celery", "-A", "museum_site"]
            self.spawn(
                "worker",
                [*celery, "worker", "-Q", "embed,sync,default", "-c", "1", "-l", "INFO", "-n", "demo@%h"],
                "worker.log",
            )
            self.spawn("beat", [*celery, "beat", "-l", "INFO", "-s", str(VAR / "celerybeat-schedule")], "beat.log")
            self.embed()
            port = self.env.get("PORT", "8000")
            self.spawn(
                "web",
                [
                    PYTHON,
                    "-m",
                    "gunicorn",
                    "museum_site.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "--timeout",
                    "120",
                ],
                "web.log",
            )
            _wait_for_port("127.0.0.1", int(port), "the web server")
            print(
                f"\n  Search:  http://127.0.0.1:{port}/\n"
                f"  API:     http://127.0.0.1:{port}/api/search?q=a+stormy+sea+at+night\n"
                f"  Health:  http://127.0.0.1:{port}/healthz\n"
                f"  Admin:   http://127.0.0.1:{port}/admin/  (user {user}, password {password})\n"
                f"  Logs:    {VAR / 'logs'}\n\nPress Ctrl-C to stop.",
                flush=True,
            )
            while True:
                for name, process in self.children:
                    if process.poll() is not None:
                        raise SystemExit(f"demo: {name} exited ({process.returncode}); see var/logs/")
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            self.shutdown()


def _signal(process: subprocess.Popen[Any], signum: int, own_group: bool) -> None:
    """Send ``signum`` to a child, or to its whole group when it leads one; nothing when it has gone."""
    if not own_group:
        process.send_signal(signum)  # nothing once it has been waited for
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _postmasters(pgdata: Path) -> list[int]:
    """The PostgreSQL servers running on ``pgdata``.

    On Linux, every ``postgres -D <pgdata>``: one whose start a stop cut short may not have written
    postmaster.pid yet, and a stale file may name a PID that another process has since taken. Elsewhere,
    the process that file names."""
    proc = Path("/proc")
    if not proc.is_dir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((pgdata / "postmaster.pid").read_text().split()[0])
            return [pid] if _alive(pid) else []
        return []
    wanted = [b"-D", os.fsencode(pgdata)]
    found = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if os.path.basename(argv[0]) == b"postgres" and argv[1:3] == wanted:
                    found.append(int(entry.name))
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _end(pid: int, signum: int, timeout: float) -> None:
    """Send ``signum`` to a process that is not our child, wait up to ``timeout`` s for it to go, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_for_port(host: str, port: int, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open(host, port):
            return
        time.sleep(0.2)
    raise SystemExit(f"demo: {what} did not start on {host}:{port}; see var/logs/")


if __name__ == "__main__":
    Demo().run()
