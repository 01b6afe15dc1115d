"""Where benchmarks run: their own database and folders, never the site's.

Benchmarks work in their own databases, ``museum_bench`` and ``museum_bench_search`` (created on
the server at DATABASE_URL, or on an embedded server in ``var/bench/pgdata``), and in
``var/bench/`` for images and model weights, so running one never touches the catalog a site
serves.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(os.environ.get("BENCH_DIR", ROOT / "var" / "bench")).resolve()
BENCH_DATABASE = "museum_bench"
MODEL_CONFIG_DIR = ROOT / "bench" / "model_configs"
SAMPLE_RECORDS = ROOT / "sample_data" / "aic" / "records"
_configured = False


def sample_records() -> list[dict[str, Any]]:
    """The bundled sample's AIC records (an API response's ``data``, or the record itself), by file name."""
    records = []
    for path in sorted(SAMPLE_RECORDS.glob("*.json")):
        record = json.loads(path.read_bytes())
        records.append(record["data"] if isinstance(record.get("data"), dict) else record)
    return records


def configure(*, migrate: bool = True, database: str = BENCH_DATABASE) -> str:
    """Point Django at a benchmark database and folders, set it up, and return the database URL."""
    global _configured
    if _configured:
        return os.environ["DATABASE_URL"]
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "museum_site.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["IMAGE_CACHE_DIR"] = str(BENCH_DIR / "image_cache")
    os.environ["MODEL_CACHE_DIR"] = str(BENCH_DIR / "models")
    # probe-224: ViT-B-32's input through a one-layer tower, for the pipeline's host-side ceiling.
    config_dirs = os.environ.get("CLIP_MODEL_CONFIG_DIRS", "")
    if str(MODEL_CONFIG_DIR) not in config_dirs.split(","):
        os.environ["CLIP_MODEL_CONFIG_DIRS"] = ",".join(filter(None, [config_dirs, str(MODEL_CONFIG_DIR)]))
    server_url = os.environ.get("DATABASE_URL", "")
    if not server_url:
        from devtools.embedded_postgres import ensure_running

        server_url = ensure_running(Path(os.environ.get("EMBEDDED_PGDATA", BENCH_DIR / "pgdata")).resolve())
    url = _with_database(server_url, database)
    if url != server_url:
        _create_database(server_url, database)
    # Child processes (gunicorn, memory probes) inherit the same database.
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
    _configured = True
    return url


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _create_database(server_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def machine() -> dict[str, Any]:
    """What the numbers were measured on, and how busy the machine was."""
    model = platform.processor() or ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of this process, all threads, or of process ``pid`` (0.0 if unreadable)."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_backend_pid() -> int:
    """The server process of this thread's database connection (local servers: its CPU time is readable)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` fall (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    print(f"\n{title}")
    print("-" * len(title))
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")


def paired_times(
    items: list[Any], run: Callable[[Any, Any], object], other: Any, this: Any, warm_up: int = 20
) -> tuple[list[float], list[float]]:
    """Milliseconds of ``run(side, item)`` for each item, on the other side and on this one, the first
    ``warm_up`` items run once before (pages into shared buffers, statements compiled). Which side goes
    first alternates item by item, so a busy neighbour slows both alike."""
    for item in items[:warm_up]:
        run(other, item)
        run(this, item)
    times: dict[str, list[float]] = {"other": [], "this": []}
    for index, item in enumerate(items):
        sides = [("other", other), ("this", this)]
        for name, side in sides if index % 2 else sides[::-1]:
            started = time.perf_counter()
            run(side, item)
            times[name].append((time.perf_counter() - started) * 1000)
    return times["other"], times["this"]


def paired_figures(other: list[float], this: list[float]) -> dict[str, float]:
    """Medians, 90th percentiles and the ratio of the medians (this / other) of two paired timings."""
    other_ms, this_ms = round(percentile(other, 0.5), 2), round(percentile(this, 0.5), 2)
    return {
        "other_p50_ms": other_ms,
        "this_p50_ms": this_ms,
        "ratio": round(this_ms / other_ms, 3),
        "other_p90_ms": round(percentile(other, 0.9), 2),
        "this_p90_ms": round(percentile(this, 0.9), 2),
    }
