from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

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
    from museum_site import container_health

    check = _services()["web"]["healthcheck"]
    assert check["test"] == ["CMD", "python", "-m", "museum_site.container_health", "web"]
    assert container_health.WEB_PATH == "/livez"


# --- Production: TLS proxy, secrets, start order, workers, telemetry --------------------------------------

COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
CADDYFILE = ROOT / "deploy" / "compose" / "Caddyfile"


def _app_services(services: dict[str, Any]) -> dict[str, Any]:
    """The services that run the site's own images (built from the Dockerfile)."""
    return {name: service for name, service in services.items() if "build" in service}


def _caddy_config(environment: dict[str, str]) -> dict[str, Any]:
    """The Caddyfile as Caddy itself reads it, in the proxy container's environment."""
    if not shutil.which("caddy"):
        pytest.fail("caddy is not installed (make test installs Debian's caddy package)")
    result = subprocess.run(
        ["caddy", "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env={"PATH": os.environ["PATH"], **environment},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def _handlers(node: Any) -> Iterator[dict[str, Any]]:
    """Every handler of an adapted Caddy configuration, however deeply nested in subroutes."""
    if isinstance(node, dict):
        if "handler" in node:
            yield node
        for value in node.values():
            yield from _handlers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _handlers(item)


def test_every_app_service_runs_in_production_mode_with_its_secrets_from_files() -> None:
    services = _app_services(_services())
    assert {"migrate", "web", "worker-embed", "worker-sync", "worker-train", "beat"} <= set(services)
    for name, service in services.items():
        environment = service["environment"]
        assert environment["PRODUCTION"] == "1", name
        assert environment["SECRET_KEY_FILE"].startswith("/run/secrets/"), name
        assert environment["DATABASE_PASSWORD_FILE"].startswith("/run/secrets/"), name
        secrets = {secret["source"] for secret in service["secrets"]}
        for variable, value in environment.items():
            if variable.endswith("_FILE") and value.startswith("/run/secrets/"):
                assert value.removeprefix("/run/secrets/") in secrets, (name, variable)


def test_no_password_is_written_in_the_file() -> None:
    services = _services()
    for name, service in services.items():
        for variable, value in (service.get("environment") or {}).items():
            assert not re.search(r"(PASSWORD|SECRET|TOKEN|SECRET_KEY)$", variable), (name, variable)
            assert not re.search(r"://[^/@\s:]+:[^/@\s]+@", str(value)), (name, variable)
        for argument in service.get("command") or []:
            assert not re.search(r"://[^/@\s:]+:[^/@\s]+@", str(argument)), (name, argument)
    assert not re.search(r"://[^/@\s:$]+:[^/@\s]+@", COMPOSE_TEXT)
    postgres = services["postgres"]["environment"]
    assert "POSTGRES_PASSWORD" not in postgres
    # Both sides read the same file: one password, kept once.
    assert postgres["POSTGRES_PASSWORD_FILE"] == services["web"]["environment"]["DATABASE_PASSWORD_FILE"]
    declared = yaml.safe_load(COMPOSE_TEXT)["secrets"]
    assert all(secret["file"].startswith("./secrets/") for secret in declared.values())


def test_web_workers_and_beat_start_after_the_migrations_are_applied() -> None:
    services = _app_services(_services())
    for name, service in services.items():
        if name == "migrate":
            assert "migrate" in service["command"]
            continue
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}, name


def test_every_app_service_but_the_one_off_migration_has_a_health_check() -> None:
    services = _services()
    for name, service in _app_services(services).items():
        if name == "migrate":
            continue
        check = service.get("healthcheck")
        assert check and not check.get("disable") and "museum_site.container_health" in check["test"], name
    for name in ("caddy", "postgres", "redis", "redis-cache", "celery-exporter"):
        assert services[name]["healthcheck"]["test"], name


def test_a_train_worker_consumes_the_queue_training_tasks_are_routed_to() -> None:
    from museum_site.celery import app
    from training.tasks import finetune_task

    queue = app.amqp.router.route({}, finetune_task.name)["queue"].name
    services = _services()
    consumers = [
        name
        for name, service in services.items()
        if "worker" in service.get("command", [])
        and queue in service["command"][service["command"].index("-Q") + 1].split(",")
    ]
    assert consumers == ["worker-train"], (queue, consumers)
    train = services["worker-train"]
    assert train["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert train["image"].startswith("museum-search-worker") and train["build"]["target"] == "worker"


def test_the_web_image_serves_and_the_worker_image_runs_the_workers() -> None:
    services = _services()
    for name in ("web", "migrate", "beat"):
        assert services[name]["build"]["target"] == "web", name
    for name in ("worker-embed", "worker-sync", "worker-train"):
        assert services[name]["build"]["target"] == "worker", name


def test_caddy_terminates_tls_in_front_and_gunicorn_is_not_published() -> None:
    services = _services()
    assert not services["web"].get("ports")
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"caddy"}
    caddy = services["caddy"]
    assert {str(port["target"]) for port in caddy["ports"]} >= {"80", "443"}
    config = _caddy_config({**caddy["environment"], "SITE_ADDRESS": "museum.example.org"})
    server = next(iter(config["apps"]["http"]["servers"].values()))
    assert server["listen"] == [":443"]  # HTTPS, with Caddy's automatic certificate for the host below
    assert server["routes"][0]["match"] == [{"host": ["museum.example.org"]}]
    upstreams = [h["upstreams"] for h in _handlers(config) if h["handler"] == "reverse_proxy"]
    assert upstreams == [[{"dial": "web:8000"}]]
    assert "8000" in [str(port) for port in services["web"]["expose"]]


def test_the_proxy_refuses_bodies_larger_than_the_site_accepts() -> None:
    from django.conf import settings

    services = _services()
    caddy = services["caddy"]
    config = _caddy_config(caddy["environment"])
    limits = [h["max_size"] for h in _handlers(config) if h["handler"] == "request_body"]
    assert limits == [int(caddy["environment"]["REQUEST_BODY_MAX_BYTES"])]
    image_max = int(services["web"]["environment"]["IMAGE_MAX_BYTES"])
    # The largest body the site takes: an image of IMAGE_MAX_BYTES and the form's other fields.
    assert limits[0] == image_max + settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def test_gunicorn_adds_up_its_worker_processes_metrics() -> None:
    web = _services()["web"]
    command = web["command"]
    assert int(command[command.index("--workers") + 1]) >= 2
    assert command[command.index("--config") + 1] == "python:museum_site.gunicorn_config"
    folder = web["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert folder in web["tmpfs"]


def test_postgresql_is_18_with_pgvector_and_every_image_is_pinned_by_digest() -> None:
    services = _services()
    assert re.match(r"^pgvector/pgvector:[\d.]+-pg18@sha256:[0-9a-f]{64}$", services["postgres"]["image"])
    unpinned = [
        name
        for name, service in services.items()
        if "build" not in service and not re.search(r":[\w.-]+@sha256:[0-9a-f]{64}$", service["image"])
    ]
    # No published digest of the exporter's image could be checked; its version tag is pinned.
    assert unpinned == ["celery-exporter"]
    assert re.search(r":\d+\.\d+\.\d+$", services["celery-exporter"]["image"])


def test_celery_sends_the_task_events_the_exporter_reads_from_the_broker() -> None:
    from museum_site.celery import app

    assert app.conf.worker_send_task_events is True and app.conf.task_send_sent_event is True
    services = _services()
    broker = services["worker-embed"]["environment"]["REDIS_URL"]
    assert f"--broker-url={broker}" in services["celery-exporter"]["command"]
