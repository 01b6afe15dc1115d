"""Settings for the test suite: the defaults of settings.py, with test services and fast retries.

Environment variables are set here, before settings.py reads them, so that the Celery worker
processes the tests start inherit exactly the same configuration.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
# A process the suite started (a worker, a command) inherits these values from it, or others its test chose,
# which stand; the suite itself sets them over whatever a developer's shell holds.
_IN_SUITE_CHILD = "MUSEUM_TEST_TMP" in os.environ
# A parallel worker of the suite (pytest -n, make test) inherits the values of the process that started
# it, and takes its own: a temporary folder and a Redis database of its own, as its own test database
# (pytest-django names it after the worker). The processes the worker starts inherit the worker's.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _XDIST_WORKER and os.environ.get("MUSEUM_TEST_WORKER") != _XDIST_WORKER:
    os.environ["MUSEUM_TEST_WORKER"] = _XDIST_WORKER
    os.environ["MUSEUM_TEST_TMP"] = tempfile.mkdtemp(prefix=f"museum-tests-{_XDIST_WORKER}-")
    _redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)
    _redis_db = (int(_redis[1]) - int(_XDIST_WORKER.removeprefix("gw")) - 1) % 16 if _redis[1].isdigit() else 15
    os.environ["REDIS_URL"] = f"{_redis[0]}/{_redis_db}"
    _IN_SUITE_CHILD = False
_TMP = Path(os.environ.setdefault("MUSEUM_TEST_TMP", tempfile.mkdtemp(prefix="museum-tests-")))


def _test_value(name: str, value: str) -> None:
    if _IN_SUITE_CHILD:
        os.environ.setdefault(name, value)
    else:
        os.environ[name] = value


os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("EMBEDDED_PGDATA", str(_ROOT / "var" / "test-pgdata"))
if not (Path(os.environ["EMBEDDED_PGDATA"]) / "postmaster.pid").exists():
    # conftest stops the embedded server at the end of the run only if this run started it.
    os.environ.setdefault("MUSEUM_TEST_STARTED_PG", "1")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
# Not the checkout's var/: a key the demo left there must not stand in for a key a test leaves out.
_test_value("VAR_DIR", str(_TMP / "var"))
_test_value("IMAGE_CACHE_DIR", str(_TMP / "image_cache"))
_test_value("MODEL_CACHE_DIR", str(_TMP / "models"))
_test_value("TRAINING_DIR", str(_TMP / "training"))  # training jobs read and write only under it
_test_value("CLIP_MODEL_CONFIG_DIRS", str(_ROOT / "embeddings" / "tests" / "model_configs"))
_test_value("IIIF_REQUESTS_PER_SECOND", "1000")
_test_value("AIC_REQUESTS_PER_MINUTE", "60000")
_test_value("AIC_BACKOFF_SECONDS", "0.01")
_test_value("AIC_TIMEOUT_SECONDS", "2")
_test_value("IIIF_TIMEOUT_SECONDS", "2")
_test_value("EMBED_DEVICE", "cpu")
_test_value("ACTIVATION_WATCH_SECONDS", "1")
_test_value("CUDA_VISIBLE_DEVICES", "")
# Each test sees its own database's counts; the caching tests turn the caches on.
os.environ.setdefault("HEALTHZ_CACHE_SECONDS", "0")
os.environ.setdefault("METRICS_CACHE_SECONDS", "0")
# Tests from one address send far more requests than a visitor; the limit's own tests turn it on.
os.environ.setdefault("RATE_LIMIT_BUDGET", "0")

from museum_site.settings import *  # noqa: E402, F403

STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
STATIC_ROOT = _TMP / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
