"""`make demo`: the whole site on one machine, started together and stopped together.

Embedded PostgreSQL+pgvector (data under var/), Redis (REDIS_URL, or a local redis-server),
a collection (SOURCE), a CLIP model, a Celery worker and beat, and the web site on PORT.
Ctrl-C or SIGTERM stops every process this started; a second run reuses var/.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("VAR_DIR", ROOT / "var")).resolve()
PYTHON = sys.executable


class Demo:
    def __init__(self) -> None:
        self.env = dict(os.environ)
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stop_postgres = False
        self.stopping = False

    # --- process management -------------------------------------------------
    def spawn(self, name: str, args: list[str], log: str) -> subprocess.Popen[bytes]:
        handle = (VAR / "logs" / log).open("ab")
        process = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.children.append((name, process))
        return process

    def manage(self, *args: str, capture: bool = False) -> str:
        command = subprocess.Popen(
            [PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, text=True, stdout=subprocess.PIPE if capture else None
        )
        try:
            stdout, _ = command.communicate()
        except BaseException:
            # Stopped meanwhile: SIGTERM (not subprocess.run's SIGKILL) lets the command record where it was
            # (an activation: interrupted), so that the next run does not find it still under way.
            command.terminate()
            try:
                command.wait(timeout=20)
            except subprocess.TimeoutExpired:
                command.kill()
                command.wait()
            raise
        if command.returncode != 0:
            raise SystemExit(f"demo: `manage.py {' '.join(args)}` failed (exit {command.returncode})")
        return stdout or ""

    def shutdown(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        print("\ndemo: stopping…", flush=True)
        for _name, process in reversed(self.children):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _name, process in reversed(self.children):
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        if self.stop_postgres:
            from museum_site.embedded_postgres import stop

            stop(VAR / "pgdata")
        print("demo: stopped every process it started.", flush=True)

    # --- steps ----------------------------------------------------------------
    def configure(self) -> None:
        for folder in ("logs", "models"):
            (VAR / folder).mkdir(parents=True, exist_ok=True)
        secret = VAR / "secret_key"
        if not secret.exists():
            secret.write_text(secrets.token_urlsafe(50))
            secret.chmod(0o600)
        self.env.setdefault("SECRET_KEY_FILE", str(secret))
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
                subprocess.run(
                    ["apt-get", "install", "-y", "-qq", "redis-server"],
                    check=True,
                    env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                )
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
        from museum_site.embedded_postgres import ensure_running

        pgdata = VAR / "pgdata"
        self.stop_postgres = not (pgdata / "postmaster.pid").exists()
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
        status = subprocess.run(
            [PYTHON, "manage.py", "embed_status"], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if status.returncode == 0:
            print(f"demo: using the active model {json.loads(status.stdout)['model']}", flush=True)
            return
        arch, _, tag = self.env.get("DEMO_MODEL", "ViT-B-32:laion2b_s34b_b79k").partition(":")
        if _port_open("huggingface.co", 443, timeout=3):
            result = subprocess.run(
                [PYTHON, "manage.py", "register_model", "clip", "--model", arch, "--pretrained", tag, "--activate"],
                cwd=ROOT,
                env=self.env,
            )
            if result.returncode == 0:
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
        signal.signal(signal.SIGTERM, _interrupt)
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


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


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
