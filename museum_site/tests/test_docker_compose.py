from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

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


def test_it_runs_every_service_with_a_gpu_for_embedding() -> None:
    result = subprocess.run(
        [*_compose(), "-f", str(ROOT / "docker-compose.yml"), "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    import yaml

    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert {"postgres", "redis", "web", "worker-embed", "worker-sync", "beat"} <= set(services)
    assert services["postgres"]["image"].startswith("pgvector/pgvector")
    devices = services["worker-embed"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert "-Q" in services["worker-embed"]["command"] and "embed" in services["worker-embed"]["command"]
    assert "gunicorn" in services["web"]["command"]
