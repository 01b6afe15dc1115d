from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("docker-compose is not installed (make test installs Debian's docker-compose package)")


def test_the_production_compose_file_is_valid(tmp_path: Path) -> None:
    result = subprocess.run(
        [*_compose(), "-f", str(ROOT / "docker-compose.yml"), "config", "-q"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def _services() -> dict[str, Any]:
    """The services as docker-compose resolves them (anchors merged, defaults of variables filled in)."""
    result = subprocess.run(
        [*_compose(), "-f", str(ROOT / "docker-compose.yml"), "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    import yaml

    services: dict[str, Any] = yaml.safe_load(result.stdout)["services"]
    return services


def _option(command: list[str], name: str) -> str | None:
    """The value after ``--name`` in a redis-server command line."""
    return command[command.index(name) + 1] if name in command else None


def test_it_runs_every_service_with_a_gpu_for_embedding() -> None:
    services = _services()
    assert {"postgres", "redis", "web", "worker-embed", "worker-sync", "beat"} <= set(services)
    assert services["postgres"]["image"].startswith("pgvector/pgvector")
    devices = services["worker-embed"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert "-Q" in services["worker-embed"]["command"] and "embed" in services["worker-embed"]["command"]
    assert "gunicorn" in services["web"]["command"]


def test_the_search_caches_have_a_redis_of_their_own_that_evicts_and_the_broker_never_evicts() -> None:
    services = _services()
    cache, broker = services["redis-cache"]["command"], services["redis"]["command"]
    assert _option(cache, "--maxmemory") not in (None, "0")
    assert _option(cache, "--maxmemory-policy") == "allkeys-lru"
    assert _option(cache, "--appendonly") == "no" and _option(cache, "--save") == ""  # nothing to keep
    assert not services["redis-cache"].get("volumes")
    assert _option(broker, "--maxmemory-policy") == "noeviction"  # a queued task is never dropped
    assert _option(broker, "--appendonly") == "yes"
    for name in ("web", "worker-embed", "worker-sync", "beat"):
        environment = services[name]["environment"]
        assert environment["SEARCH_QUERY_CACHE_URL"].startswith("redis://redis-cache:"), name
        assert environment["REDIS_URL"].startswith("redis://redis:"), name


def test_the_web_service_is_checked_by_its_liveness_probe() -> None:
    check = _services()["web"]["healthcheck"]
    command = " ".join(check["test"])
    assert "/livez" in command and "/healthz" not in command
