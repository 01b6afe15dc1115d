"""The Kubernetes manifests (deploy/k8s): every overlay renders with Kustomize, every object is valid
for Kubernetes and for KEDA, and the pods run what the Celery routes, the probes and the settings need."""

from __future__ import annotations

import copy
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import psycopg
import pytest
import yaml
from django.test import Client

from museum_site import config_schema

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(path.parent.name for path in (K8S / "overlays").glob("*/kustomization.yaml"))
# The oldest Kubernetes release the manifests are written for (a preStop `sleep` needs 1.30 or later),
# and the newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.32", "1.37")
# KEDA's own CRDs, vendored with the version they come from named in their first lines.
KEDA_CRDS = {"ScaledObject": K8S / "schemas" / "keda.sh_scaledobjects.yaml"}
KEDA_CRDS["TriggerAuthentication"] = K8S / "schemas" / "keda.sh_triggerauthentications.yaml"
APP_IMAGES = ("museum-search-web", "museum-search-worker")
SECRET_NAME = "museum-search"
SECRET_DIR = "/run/secrets/museum-search/"
STRONG_KEY = "pZ3q-Vw8xK2mR7tN4yB6cH1jL9sD5fG0aE_uI3oP8wQ2zX7vM4nB1kJ6hT9gF"
# Read by Python and the libraries the site uses, not by the settings.
LIBRARY_VARIABLES = {"HOME", "MPLCONFIGDIR", "PYTHONDONTWRITEBYTECODE"}


@functools.cache
def _rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not installed: the manifests are rendered with `kubectl kustomize` (Debian: kubectl)")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"kubectl kustomize {overlay}: {result.stderr}"
    return tuple(document for document in yaml.safe_load_all(result.stdout) if document)


def _objects(overlay: str, kind: str) -> list[dict[str, Any]]:
    return [copy.deepcopy(document) for document in _rendered(overlay) if document["kind"] == kind]


def _one(overlay: str, kind: str, name: str) -> dict[str, Any]:
    found = [document for document in _objects(overlay, kind) if document["metadata"]["name"] == name]
    assert len(found) == 1, f"{overlay}: expected one {kind} {name}, found {len(found)}"
    return found[0]


def _pod_templates(overlay: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in ("Deployment", "Job"):
        for document in _objects(overlay, kind):
            yield f"{kind}/{document['metadata']['name']}", document["spec"]["template"]["spec"]


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def _runs_the_site(container: dict[str, Any]) -> bool:
    return container["image"].split("/")[-1].split(":")[0] in APP_IMAGES


def _settings_map(overlay: str, container: dict[str, Any]) -> dict[str, str]:
    """The variables a container takes from the site's ConfigMap, then its own env values over them."""
    values: dict[str, str] = {}
    for source in container.get("envFrom", []):
        values |= _one(overlay, "ConfigMap", source["configMapRef"]["name"])["data"]
    for variable in container.get("env", []):
        if "value" in variable:
            values[variable["name"]] = variable["value"]
    return values


def _celery_app() -> Any:
    from museum_site.celery import app

    app.loader.import_default_modules()
    return app


def _routed_queues() -> dict[str, str]:
    """Every task of the site and the queue Celery's own router sends it to, as the settings configure it."""
    app = _celery_app()
    routes = {}
    for name, task in app.tasks.items():
        if name.startswith("celery."):
            continue
        routes[name] = getattr(task, "queue", None) or app.amqp.router.route({}, name)["queue"].name
    return routes


def _consumed_queues(overlay: str) -> dict[str, set[str]]:
    """The queues each running Celery worker Deployment consumes (its `-Q`)."""
    consumed = {}
    for deployment in _objects(overlay, "Deployment"):
        if deployment["spec"].get("replicas", 1) == 0:
            continue
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            command = container.get("command", [])
            if command[:1] == ["celery"] and "worker" in command:
                consumed[deployment["metadata"]["name"]] = set(command[command.index("-Q") + 1].split(","))
    return consumed


def _strict(schema: Any) -> Any:
    """A CRD's OpenAPI schema that refuses unknown fields, as `kubectl apply` with strict field validation
    does (an object schema with properties and no other allowance gets additionalProperties: false)."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in strict
        and "additionalProperties" not in strict
        and not strict.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


@functools.cache
def _keda_validator(kind: str, api_version: str) -> Any:
    crd = yaml.safe_load(KEDA_CRDS[kind].read_text())
    group, version = api_version.split("/")
    assert crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind
    served = {entry["name"]: entry for entry in crd["spec"]["versions"] if entry["served"]}
    assert version in served, f"KEDA serves {kind} as {sorted(served)}, not {version}"
    schema = _strict(served[version]["schema"]["openAPIV3Schema"])
    return jsonschema.Draft7Validator(schema)


def _kubernetes_problems(document: dict[str, Any], version: str) -> list[str]:
    try:
        kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{document['kind']}/{document['metadata']['name']}: {error.message} at {list(error.path)}"]
    return []


def _keda_problems(document: dict[str, Any]) -> list[str]:
    validator = _keda_validator(document["kind"], document["apiVersion"])
    return [
        f"{document['kind']}/{document['metadata']['name']}: {error.message} at {list(error.path)}"
        for error in validator.iter_errors(document)
    ]


def _mebibytes(size: str) -> float:
    """An ingress-nginx size (`21m`, `1g`, `512k`) in MiB."""
    match = re.fullmatch(r"(\d+)([kmg]?)", size.lower())
    assert match, size
    return int(match.group(1)) * {"k": 1 / 1024, "": 1 / 1024**2, "m": 1, "g": 1024}[match.group(2)]


def test_there_are_overlays_to_check() -> None:
    assert {"production", "small"} <= set(OVERLAYS)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_for_kubernetes(overlay: str, version: str) -> None:
    problems = []
    for document in _rendered(overlay):
        if document["apiVersion"].startswith("keda.sh/"):
            continue
        problems += _kubernetes_problems(document, version)
    assert problems == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_keda_object_is_valid_for_kedas_crds(overlay: str) -> None:
    keda = [document for document in _rendered(overlay) if document["apiVersion"].startswith("keda.sh/")]
    assert {document["kind"] for document in keda} <= set(KEDA_CRDS)
    assert [problem for document in keda for problem in _keda_problems(document)] == []


def test_the_checks_refuse_a_misspelt_field() -> None:
    web = _one("production", "Deployment", "museum-search-web")
    web["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {"httpGet": {"path": "/livez", "port": 8000}}
    assert _kubernetes_problems(web, KUBERNETES_VERSIONS[0])
    scaled = _one("production", "ScaledObject", "museum-search-worker-embed")
    scaled["spec"]["maxReplicas"] = 3
    assert _keda_problems(scaled)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_web_probes_ask_livez_and_readyz_of_a_host_django_allows(overlay: str) -> None:
    web = _one(overlay, "Deployment", "museum-search-web")
    container = next(item for item in web["spec"]["template"]["spec"]["containers"] if item["name"] == "web")
    allowed = _settings_map(overlay, container)["ALLOWED_HOSTS"].split(",")
    probes = {name: container[name]["httpGet"] for name in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["path"] == "/livez"
    assert probes["startupProbe"]["path"] == "/livez"
    assert probes["readinessProbe"]["path"] == "/readyz"
    for name, probe in probes.items():
        hosts = [header["value"] for header in probe.get("httpHeaders", []) if header["name"].lower() == "host"]
        assert hosts == [allowed[0]], f"{overlay}: {name} must send Host: {allowed[0]}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_serves_the_allowed_host_over_tls_and_lets_uploads_through(overlay: str) -> None:
    ingress = _one(overlay, "Ingress", "museum-search")
    web = _one(overlay, "Deployment", "museum-search-web")
    settings = _settings_map(overlay, web["spec"]["template"]["spec"]["containers"][0])
    host = settings["ALLOWED_HOSTS"].split(",")[0]
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == [host]
    assert any(host in tls["hosts"] and tls.get("secretName") for tls in ingress["spec"]["tls"])
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == _one(overlay, "Service", "museum-search-web")["metadata"]["name"]
    # The site itself answers 413 to an upload over its limit; the proxy must not refuse it first.
    image_max_bytes = int(settings.get("IMAGE_MAX_BYTES", config_schema.DECLARED["IMAGE_MAX_BYTES"].default or 0))
    from django.conf import settings as django_settings

    largest_upload = (image_max_bytes + django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE) / 1024**2
    body_size = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert _mebibytes(body_size) >= largest_upload


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_beat_runs_and_a_new_one_starts_only_after_the_old_one_stopped(overlay: str) -> None:
    beats = [
        deployment
        for deployment in _objects(overlay, "Deployment")
        if any(
            "beat" in container.get("command", []) for container in deployment["spec"]["template"]["spec"]["containers"]
        )
    ]
    assert len(beats) == 1
    assert beats[0]["spec"]["replicas"] == 1
    assert beats[0]["spec"]["strategy"] == {"type": "Recreate"}
    assert not any(
        scaled["spec"]["scaleTargetRef"]["name"] == beats[0]["metadata"]["name"]
        for scaled in _objects(overlay, "ScaledObject")
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_queue_the_tasks_are_routed_to_has_a_worker(overlay: str) -> None:
    routed = set(_routed_queues().values()) | {_celery_app().conf.task_default_queue}
    assert {"embed", "sync", "train"} <= routed  # the routes were read, not an empty app
    consumed = set().union(*_consumed_queues(overlay).values())
    assert routed - consumed == set()
    exporter = _one(overlay, "Deployment", "museum-search-celery-exporter")["spec"]["template"]["spec"]["containers"][0]
    exporter_queues = next(variable["value"] for variable in exporter["env"] if variable["name"] == "CE_QUEUES")
    assert set(exporter_queues.split(",")) == routed


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_embed_worker_has_a_gpu_and_keda_scales_it_on_the_embed_list(overlay: str) -> None:
    embed_queue = _routed_queues()["embeddings.tasks.embed_artworks_task"]
    workers = [name for name, queues in _consumed_queues(overlay).items() if embed_queue in queues]
    assert workers == ["museum-search-worker-embed"]
    deployment = _one(overlay, "Deployment", workers[0])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    assert _settings_map(overlay, container)["EMBED_DEVICE"] == "cuda"
    scaled_objects = _objects(overlay, "ScaledObject")
    if overlay == "small":
        assert scaled_objects == [] and deployment["spec"]["replicas"] == 1
        return
    assert len(scaled_objects) == 1
    spec = scaled_objects[0]["spec"]
    assert spec["scaleTargetRef"]["name"] == workers[0]
    assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    assert "replicas" not in deployment["spec"]  # the autoscaler owns the count
    [trigger] = spec["triggers"]
    assert trigger["type"] == "redis" and trigger["metadata"]["listName"] == embed_queue
    authentication = _one(overlay, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    parameters = {ref["parameter"]: ref for ref in authentication["spec"]["secretTargetRef"]}
    assert parameters["address"]["name"] == SECRET_NAME


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_is_rendered_and_every_key_read_is_documented(overlay: str) -> None:
    assert [secret["metadata"]["name"] for secret in _objects(overlay, "Secret")] == []
    keys = set()
    for _, pod in _pod_templates(overlay):
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] == SECRET_NAME
        for container in _containers(pod):
            for variable in container.get("env", []):
                if reference := variable.get("valueFrom", {}).get("secretKeyRef"):
                    assert reference["name"] == SECRET_NAME
                    keys.add(reference["key"])
            keys |= {
                value.removeprefix(SECRET_DIR)
                for value in _settings_map(overlay, container).values()
                if value.startswith(SECRET_DIR)
            }
    for authentication in _objects(overlay, "TriggerAuthentication"):
        keys |= {reference["key"] for reference in authentication["spec"]["secretTargetRef"]}
    assert {"secret-key", "database-url", "redis-url"} <= keys
    handbook = (ROOT / "docs" / "kubernetes.md").read_text()
    assert sorted(key for key in keys if f"`{key}`" not in handbook) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_runs_as_non_root_without_privileges_and_with_limits(overlay: str) -> None:
    for where, pod in _pod_templates(overlay):
        pod_security = pod.get("securityContext", {})
        assert pod.get("automountServiceAccountToken") is False, where
        writable = {volume["name"] for volume in pod.get("volumes", []) if "emptyDir" in volume}
        for container in _containers(pod):
            at = f"{where} {container['name']}"
            security = pod_security | container.get("securityContext", {})
            assert security.get("runAsNonRoot") is True, at
            assert security.get("runAsUser", 1) != 0, at
            assert security.get("allowPrivilegeEscalation") is False, at
            assert security.get("capabilities", {}).get("drop") == ["ALL"], at
            assert security.get("seccompProfile", {}).get("type") == "RuntimeDefault", at
            assert security.get("readOnlyRootFilesystem") is True, at
            mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
            assert mounts.get("/tmp") in writable, f"{at}: a read-only root needs a writable /tmp"
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container.get("resources", {}).get(bound, {})), f"{at} {bound}"
            if multiproc := _settings_map(overlay, container).get("PROMETHEUS_MULTIPROC_DIR"):
                assert mounts.get(multiproc) in writable, at


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_site_waits_for_its_migrations(overlay: str) -> None:
    job = _one(overlay, "Job", "museum-search-migrate")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][-3:] == ["manage.py", "migrate", "--noinput"]
    for where, pod in _pod_templates(overlay):
        if where.startswith("Job/") or not any(_runs_the_site(container) for container in pod["containers"]):
            continue
        checks = [" ".join(container["command"]) for container in pod.get("initContainers", [])]
        assert any("manage.py migrate --check" in check for check in checks), where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_process_shares_the_search_caches_redis_with_the_web(overlay: str) -> None:
    """Workers make cached answers stale (search/result_cache.py): they must write where the web reads."""
    sources = {}
    for deployment in _objects(overlay, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            if _runs_the_site(container):
                given = [item for item in container.get("env", []) if item["name"] == "SEARCH_QUERY_CACHE_URL"]
                sources[deployment["metadata"]["name"]] = yaml.safe_dump(given)
    assert len(sources) >= 5 and len(set(sources.values())) == 1, sources
    assert "search-cache-url" in next(iter(sources.values()))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_the_pods_are_given_is_declared(overlay: str) -> None:
    secret_files = {f"{name}_FILE" for name, variable in config_schema.DECLARED.items() if variable.secret}
    known = set(config_schema.DECLARED) | secret_files | LIBRARY_VARIABLES
    for where, pod in _pod_templates(overlay):
        for container in _containers(pod):
            if _runs_the_site(container):
                given = set(_settings_map(overlay, container)) | {item["name"] for item in container.get("env", [])}
                assert sorted(given - known) == [], f"{where} {container['name']}"


@pytest.mark.django_db(transaction=True)
def test_the_probes_as_the_kubelet_sends_them_are_answered(client: Client, settings: Any) -> None:
    web = _one("production", "Deployment", "museum-search-web")
    container = web["spec"]["template"]["spec"]["containers"][0]
    settings.ALLOWED_HOSTS = _settings_map("production", container)["ALLOWED_HOSTS"].split(",")
    for name in ("startupProbe", "livenessProbe", "readinessProbe"):
        probe = container[name]["httpGet"]
        headers = {f"HTTP_{header['name'].upper()}": header["value"] for header in probe["httpHeaders"]}
        assert client.get(probe["path"], **headers).status_code == 200, name
        # Without the header the kubelet sends the pod's address, which Django refuses.
        assert client.get(probe["path"], HTTP_HOST="10.1.2.3:8000").status_code == 400, name


def _database_url(name: str) -> str:
    """A URL for the database ``name`` on the session's PostgreSQL server."""
    from django.db import connection

    params = connection.settings_dict
    host, port = params["HOST"], params["PORT"] or "5432"
    credentials = f"{params['USER']}:{params['PASSWORD'] or ''}"
    if host.startswith("/"):
        return f"postgresql://{credentials}@/{name}?host={host}&port={port}"
    return f"postgresql://{credentials}@{host}:{port}/{name}"


def _wait_for_migrations(overlay: str, database_url: str, seconds: float) -> tuple[int | None, str]:
    """The web pods' init container's command, run here against ``database_url`` as in a production pod:
    its exit status (None while it still waits after ``seconds``) and its output."""
    web = _one(overlay, "Deployment", "museum-search-web")
    [init] = web["spec"]["template"]["spec"]["initContainers"]
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PRODUCTION": "1",
        "SECRET_KEY": STRONG_KEY,
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ["REDIS_URL"],
        "VAR_DIR": os.environ["MUSEUM_TEST_TMP"],
    }
    process = subprocess.Popen(
        init["command"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=seconds)
        return process.returncode, output.decode()
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the shell's loop and the check it runs
        output, _ = process.communicate()
        return None, output.decode()


@pytest.mark.django_db(transaction=True)
def test_pods_start_only_once_the_migrations_are_applied() -> None:
    from django.db import connection

    status, output = _wait_for_migrations("production", _database_url(connection.settings_dict["NAME"]), 120)
    assert status == 0, output
    empty = f"k8s_unmigrated_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_database_url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{empty}"')
        try:
            status, output = _wait_for_migrations("production", _database_url(empty), 20)
            assert status is None, output
            assert "waiting for migrations" in output
        finally:
            admin.execute(f'DROP DATABASE "{empty}" WITH (FORCE)')
