"""Every environment variable of the site, declared once: its type, default, bounds and meaning.

settings.py reads the environment only through the readers below, which refuse an undeclared name and
check a value against its declaration (museum_site/env.py raises the errors). The reference table of
docs/configuration.md and .env.example are generated from the declarations:

    python -m museum_site.config_schema --write     # rewrite both
    python -m museum_site.config_schema --check     # exit 1 when either is out of date

Importing this module reads nothing and starts nothing; it needs no database and no secret key.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from museum_site import env

Kind = Literal["str", "secret", "path", "bool", "bool_or_auto", "int", "int_or_auto", "float", "list", "choice"]
Default = str | int | float | bool | None


@dataclass(frozen=True)
class Var:
    """One environment variable. ``default`` None means the settings compute it (``shown`` says from what)."""

    name: str
    kind: Kind
    default: Default
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    shown: str = ""  # the default as the documentation writes it, where the value alone would mislead
    section: str = ""
    # Read by a process other than the settings (the demo, the embedded server, a library, docker-compose).
    elsewhere: bool = False

    @property
    def secret(self) -> bool:
        """Whether NAME_FILE may name a file that holds the value (Docker and Kubernetes secrets)."""
        return self.kind == "secret"

    def default_text(self) -> str:
        if self.shown:
            return self.shown
        if self.default is None or self.default == "":
            return "empty"
        if isinstance(self.default, bool):
            return "1" if self.default else "0"
        return str(self.default)


def _section(title: str, *variables: Var) -> list[Var]:
    return [replace(variable, section=title) for variable in variables]


# A setting that was renamed: setting the old name stops the process, naming the new one.
RETIRED = {
    "API_RATE_LIMIT_REQUESTS": "RATE_LIMIT_BUDGET with RATE_LIMIT_COST_*",
    "API_RATE_LIMIT_WINDOW_SECONDS": "RATE_LIMIT_WINDOW_SECONDS",
    "API_RATE_LIMIT_PROXY_COUNT": "RATE_LIMIT_PROXY_COUNT",
    "SEARCH_TEXT_RUNTIME": "SEARCH_ENCODER_RUNTIME",
}

SCHEMA: list[Var] = [
    *_section(
        "Site and security",
        Var(
            "SECRET_KEY",
            "secret",
            "",
            "Django secret key, or SECRET_KEY_FILE: a file that holds it. Required with PRODUCTION=1; elsewhere "
            "VAR_DIR/secret_key is used when it exists (`make demo` and `manage.py` create it), then DEBUG's key",
            shown="VAR_DIR/secret_key outside production",
        ),
        Var("DEBUG", "bool", False, "Django debug mode (refused with PRODUCTION=1)"),
        Var(
            "PRODUCTION",
            "bool",
            False,
            "a site on the internet: refuses DEBUG=1, a missing, placeholder or weak SECRET_KEY (under 50 "
            "characters or 5 distinct ones) and a missing DATABASE_URL, and turns on the HTTPS settings below",
        ),
        Var("ALLOWED_HOSTS", "list", "127.0.0.1,localhost", "host names the site answers, comma-separated"),
        Var("CSRF_TRUSTED_ORIGINS", "list", "", "origins trusted for unsafe requests, comma-separated"),
        Var("SECURE_COOKIES", "bool", None, "secure session and CSRF cookies (behind HTTPS)", shown="PRODUCTION"),
        Var(
            "SECURE_SSL_REDIRECT",
            "bool",
            None,
            "redirect HTTP to HTTPS (not /livez, /readyz, /healthz and /metrics, which probes reach over plain HTTP)",
            shown="PRODUCTION",
        ),
        Var(
            "SECURE_HSTS_SECONDS",
            "int",
            None,
            "HTTP Strict Transport Security lifetime",
            minimum=0,
            shown="31536000 with PRODUCTION, else 0",
        ),
        Var("SECURE_HSTS_INCLUDE_SUBDOMAINS", "bool", None, "HSTS for subdomains too", shown="PRODUCTION"),
        Var("SECURE_HSTS_PRELOAD", "bool", None, "ask browsers to preload HSTS", shown="PRODUCTION"),
        Var(
            "CSP_REPORT_ONLY",
            "bool",
            False,
            "send the Content-Security-Policy as Content-Security-Policy-Report-Only (reports, blocks nothing)",
        ),
        Var(
            "SECURE_PROXY_SSL_HEADER",
            "bool",
            False,
            "trust `X-Forwarded-Proto: https` from the TLS proxy in front (only if that proxy sets it)",
        ),
    ),
    *_section(
        "Database and local state",
        Var(
            "DATABASE_URL",
            "secret",
            "",
            "any PostgreSQL with pgvector >= 0.8 (a file keeps its password out of the environment). Unset or "
            "`embedded`: the embedded server in EMBEDDED_PGDATA, refused with PRODUCTION=1",
            shown="embedded server",
        ),
        Var(
            "EMBEDDED_PGDATA",
            "path",
            None,
            "data folder of the embedded PostgreSQL server (`make demo`, `manage.py` and the tests start it)",
            shown="VAR_DIR/pgdata",
        ),
        Var(
            "EMBEDDED_PG_SHARED_BUFFERS_MB",
            "int",
            2048,
            "the embedded server's shared_buffers, set when it starts (a running server keeps its size until "
            "restarted); enough to hold a 1M-artwork HNSW index",
            minimum=16,
            maximum=1_048_576,
            elsewhere=True,
        ),
        Var("DB_CONN_MAX_AGE", "int", 60, "seconds a database connection is kept", minimum=0),
        Var(
            "DATABASE_POOLER",
            "choice",
            "none",
            "none: DATABASE_URL is PostgreSQL itself; pgbouncer-transaction: a PgBouncer in transaction mode, "
            "so no server-side cursors or prepared statements (docs/database.md)",
            choices=("none", "pgbouncer-transaction"),
        ),
        Var(
            "DATABASE_DIRECT_URL",
            "secret",
            "",
            "PostgreSQL itself, bypassing the pooler, for index builds that outlast a transaction; required "
            "with DATABASE_POOLER=pgbouncer-transaction. Empty: DATABASE_URL",
        ),
        Var("DB_CONNECT_TIMEOUT", "int", 5, "seconds to wait for a database connection", minimum=1),
        Var(
            "VAR_DIR",
            "path",
            None,
            "where local state lives: the embedded database, caches, the development secret key",
            shown="var/ beside manage.py",
        ),
        Var(
            "DATABASE_PASSWORD",
            "secret",
            "",
            "the database password, which replaces any in DATABASE_URL; DATABASE_PASSWORD_FILE can name the file "
            "PostgreSQL's own container reads (POSTGRES_PASSWORD_FILE), so the password is kept once",
        ),
    ),
    *_section(
        "Redis and Celery",
        Var(
            "REDIS_URL",
            "secret",
            "redis://127.0.0.1:6379/0",
            "Redis for Celery, rate limits and the login throttle; it must persist (appendonly yes) and never "
            "evict (maxmemory-policy noeviction)",
        ),
        Var("CELERY_BROKER_URL", "secret", None, "Celery broker", shown="REDIS_URL"),
        Var("CELERY_TASK_SOFT_TIME_LIMIT", "int", 600, "seconds a task runs before it is asked to stop", minimum=10),
        Var("CELERY_TASK_TIME_LIMIT", "int", 660, "seconds a task runs before it is killed", minimum=11),
        Var(
            "CELERY_VISIBILITY_TIMEOUT",
            "int",
            900,
            "seconds before an unacknowledged task is redelivered; must exceed CELERY_TASK_TIME_LIMIT",
            minimum=30,
        ),
        Var(
            "CELERY_UNACKED_RESTORE_INTERVAL",
            "int",
            10,
            "how often, in seconds, workers look for the tasks of a worker that died",
            minimum=1,
        ),
        Var(
            "ACTIVATION_LEASE_SECONDS",
            "int",
            30,
            "a process activating a model renews its lease every third of this; a killed one's activation may "
            "be started again this many seconds later",
            minimum=3,
            maximum=3600,
        ),
        Var(
            "ACTIVATION_WATCH_SECONDS",
            "int",
            15,
            "an activation on the embed queue checks its coverage every this many seconds once its batches "
            "are queued, and switches when it is complete",
            minimum=1,
            maximum=600,
        ),
        Var(
            "ACTIVATION_QUEUE_PAGE_TASKS",
            "int",
            100,
            "embedding tasks an activation on the embed queue queues at a time; the next page follows once "
            "workers have taken these",
            minimum=1,
            maximum=10000,
        ),
        Var(
            "SEARCH_GATE_QUERIES",
            "path",
            None,
            "the judged query set an activation ranks under the candidate and the active model before it "
            "switches; a candidate whose hybrid nDCG@10 is below the active one's by more than "
            "SEARCH_GATE_MARGIN is refused (force overrides). Empty: no ranking gate",
            shown="search/judged/queries.jsonl",
        ),
        Var(
            "SEARCH_GATE_MARGIN",
            "float",
            0.02,
            "how far below the active model's hybrid nDCG@10 a candidate's may fall and still be activated",
            minimum=0.0,
            maximum=1.0,
        ),
        Var(
            "CELERY_HEARTBEAT_FILE",
            "path",
            "",
            "a file a worker touches at each event heartbeat and beat at each tick, whose age the containers' "
            "health checks read (`python -m museum_site.container_health celery`); empty: none",
            elsewhere=True,
        ),
    ),
    *_section(
        "Art Institute of Chicago",
        Var(
            "AIC_SYNC_INTERVAL_SECONDS",
            "int",
            3600,
            "first interval of the `sync-aic` periodic harvest, which the admin then edits",
            minimum=60,
        ),
        Var(
            "AIC_RECONCILE_INTERVAL_SECONDS",
            "int",
            604800,
            "first interval of `reconcile-aic`, a full walk that stores changes and withdraws what AIC no longer lists",
            minimum=60,
        ),
        Var(
            "AIC_MAX_WITHDRAW_FRACTION",
            "float",
            0.05,
            "a walk that would withdraw more than this share of the collection withdraws nothing and waits for "
            "a curator",
            minimum=0.0,
            maximum=1.0,
        ),
        Var("AIC_API_URL", "str", "https://api.artic.edu/api/v1", "AIC API"),
        Var("AIC_IIIF_URL", "str", "https://www.artic.edu/iiif/2", "AIC IIIF image server"),
        Var(
            "AIC_CONTACT",
            "str",
            "museum-search (webmaster@example.org)",
            "sent as AIC-User-Agent: put your site and email here",
        ),
        Var("AIC_REQUESTS_PER_MINUTE", "float", 60.0, "AIC's published API limit", minimum=0.1),
        Var("AIC_PAGE_SIZE", "int", 100, "records per harvested page", minimum=1, maximum=100),
        Var("AIC_TIMEOUT_SECONDS", "float", 20.0, "seconds to wait for an API answer", minimum=0.1),
        Var("AIC_MAX_RETRIES", "int", 5, "retries of a failed API request (429 and 5xx honour Retry-After)", minimum=0),
        Var("AIC_BACKOFF_SECONDS", "float", 1.0, "first delay between API retries", minimum=0.0),
    ),
    *_section(
        "Images and embeddings",
        Var("IMAGE_CACHE_DIR", "path", None, "downloaded images, by content", shown="VAR_DIR/image_cache"),
        Var("MODEL_CACHE_DIR", "path", None, "model weights and exports", shown="VAR_DIR/models"),
        Var("IIIF_IMAGE_WIDTH", "int", 448, "width requested from IIIF and cached", minimum=32, maximum=4096),
        Var("IIIF_REQUESTS_PER_SECOND", "float", 1.0, "image downloads per second, all workers together", minimum=0.01),
        Var("IIIF_FETCH_CONCURRENCY", "int", 4, "image downloads at once per task", minimum=1, maximum=64),
        Var("IIIF_TIMEOUT_SECONDS", "float", 30.0, "seconds to wait for an image", minimum=0.1),
        Var("IIIF_MAX_RETRIES", "int", 3, "retries of a transient image failure within a task", minimum=0),
        Var(
            "IMAGE_MAX_BYTES",
            "int",
            20 * 1024 * 1024,
            "larger images are refused, harvested and uploaded alike; also caps the files of any request",
            minimum=1024,
            shown="20971520 (20 MiB)",
        ),
        Var("IMAGE_MAX_PIXELS", "int", 40_000_000, "images with more pixels are refused", minimum=1024),
        Var(
            "IMAGE_UPLOAD_MAX_PIXELS",
            "int",
            24_000_000,
            "pixels an uploaded image may have (never more than IMAGE_MAX_PIXELS), read from its header",
            minimum=1024,
        ),
        Var("EMBED_BATCH_SIZE", "int", 32, "artworks per embedding task", minimum=1, maximum=4096),
        Var(
            "EMBED_SWEEP_INTERVAL_SECONDS",
            "int",
            600,
            "how often the sweep (`embed-sweep`) queues due retries and lost artworks and deletes unused files",
            minimum=5,
        ),
        Var(
            "EMBED_PENDING_GRACE_SECONDS",
            "int",
            3600,
            "how long an artwork may wait for its vector before the sweep takes its task for lost",
            minimum=1,
        ),
        Var(
            "EMBED_RETRY_DELAY_SECONDS",
            "int",
            600,
            "first delay before a transient image failure is tried again, doubling with each try",
            minimum=1,
        ),
        Var("EMBED_RETRY_MAX_DELAY_SECONDS", "int", 86400, "longest delay between two tries", minimum=1),
        Var("EMBED_MAX_ATTEMPTS", "int", 8, "counted failures after which a failure is kept as permanent", minimum=1),
        Var("EMBED_DEVICE", "str", "auto", "torch device of the embedding workers"),
        Var(
            "EMBED_FORWARD_BATCH_SIZE",
            "int",
            32,
            "images per forward pass (a GPU worker wants EMBED_BATCH_SIZE several times this)",
            minimum=1,
            maximum=4096,
        ),
        Var(
            "EMBED_DECODE_THREADS",
            "int",
            0,
            "threads decoding images ahead of the model (0: one per core)",
            minimum=0,
            maximum=256,
        ),
        Var(
            "EMBED_DECODE_PROCESSES",
            "int_or_auto",
            None,
            "processes decoding cached images; auto: one per core when the image tower runs on a GPU, else none",
            minimum=0,
            maximum=256,
            shown="auto",
        ),
        Var(
            "EMBED_DECODE_ON_DEVICE",
            "bool",
            False,
            "decode cached JPEGs on the embedding device (nvjpeg on a GPU) and resize them there",
        ),
        Var(
            "EMBED_PIXEL_CACHE",
            "bool_or_auto",
            None,
            "keep each image resized and cropped for the model, raw; auto: on where the tower runs on a GPU and "
            "images are decoded on the host",
            shown="auto",
        ),
        Var("EMBED_PIXEL_CACHE_DIR", "path", None, "where those pixels go", shown="IMAGE_CACHE_DIR/pixels"),
        Var(
            "EMBED_PIXEL_CACHE_MAX_GB",
            "float",
            50.0,
            "bound of the pixel files in GB (10^9 bytes), evicted by the sweep; 0: unbounded",
            minimum=0.0,
        ),
        Var("HNSW_M", "int", 16, "pgvector HNSW graph degree", minimum=2, maximum=100),
        Var(
            "HNSW_EF_CONSTRUCTION",
            "int",
            128,
            "candidates per insert when an index is built (bench.search measures recall)",
            minimum=4,
            maximum=1000,
        ),
        Var("HNSW_EF_SEARCH", "int", 150, "candidates per HNSW search", minimum=1, maximum=1000),
        Var(
            "HNSW_BUILD_MEMORY_MB",
            "int",
            1024,
            "the most maintenance_work_mem a model's index build takes: it takes what its graph needs, up to this "
            "(docs/database.md)",
            minimum=64,
            maximum=1_048_576,
        ),
        Var("CLIP_MODEL_CONFIG_DIRS", "list", "", "extra folders of open_clip JSON model configs, comma-separated"),
    ),
    *_section(
        "Search",
        Var("SEARCH_MAX_QUERY_LENGTH", "int", 300, "longest query, in characters", minimum=1),
        Var("SEARCH_DEFAULT_K", "int", 24, "results per page", minimum=1, maximum=100),
        # Chosen by `tune_search_weights` on the judged set (BENCHMARKS.md, Search quality).
        Var("SEARCH_RRF_K", "int", 5, "reciprocal rank fusion constant (higher flattens the top ranks)", minimum=1),
        Var("SEARCH_KEYWORD_WEIGHT", "float", 1.0, "hybrid weight of the full-text list", minimum=0.0),
        Var("SEARCH_SEMANTIC_WEIGHT", "float", 0.25, "hybrid weight of the CLIP list", minimum=0.0),
        Var("SEARCH_BOOST_WEIGHT", "float", 1.0, "hybrid weight of curator boosts", minimum=0.0),
        Var("SEARCH_HYBRID_CANDIDATES", "int", 100, "how deep hybrid reads each list", minimum=1, maximum=1000),
        Var(
            "SEARCH_FACET_TEXT_MATCHES",
            "int",
            1000,
            "facet counts read at most this many of a query's text matches (0: all)",
            minimum=0,
        ),
        Var(
            "SEARCH_SORT_WINDOW",
            "int",
            200,
            "date order re-sorts this many of the most relevant",
            minimum=1,
            maximum=1000,
        ),
        Var("SEARCH_MAX_RESULTS", "int", 1000, "how deep pages may go", minimum=1, maximum=10000),
        Var(
            "SEARCH_QUERY_CACHE_URL",
            "str",
            None,
            "Redis for cached query vectors and answers: give it one of its own, with maxmemory and allkeys-lru",
            shown="REDIS_URL",
        ),
        Var("SEARCH_QUERY_CACHE_SECONDS", "int", 604800, "lifetime of a cached query vector (0: off)", minimum=0),
        Var("SEARCH_RESULT_CACHE_SECONDS", "int", 600, "longest a cached /api/search answer lives (0: off)", minimum=0),
        Var(
            "SEARCH_EXACT_SCAN_MAX",
            "int",
            5000,
            "a filter leaving at most this many artworks is answered by exact search (0: always the index)",
            minimum=0,
        ),
        Var(
            "SEARCH_FILTER_EXTRA_CANDIDATES",
            "int",
            30,
            "a larger filter walks the index this many members past the page",
            minimum=0,
            maximum=1000,
        ),
        Var(
            "KEYWORD_LEADERS_PER_WORD",
            "int",
            1000,
            "a word held by more artworks keeps a list of this many it ranks best (0: no lists)",
            minimum=0,
            maximum=100_000,
        ),
        Var("SEARCH_DEVICE", "str", "cpu", "torch device of the web process when it runs open_clip's text tower"),
        Var(
            "SEARCH_ENCODER_RUNTIME",
            "choice",
            "onnx",
            "how web processes encode text and image queries: onnx: the towers' ONNX exports on ONNX Runtime, "
            "without PyTorch; torch: open_clip (text on SEARCH_DEVICE, images on EMBED_DEVICE)",
            choices=("onnx", "torch"),
        ),
        Var("SEARCH_TEXT_THREADS", "int", 0, "ONNX Runtime threads for one query (0: one per core)", minimum=0),
    ),
    *_section(
        "Search log",
        Var(
            "SEARCH_LOG",
            "bool",
            True,
            "keep a log of searches and of the results opened from them, without addresses (0: nothing is written)",
        ),
        Var(
            "SEARCH_LOG_DAYS",
            "int",
            90,
            "days a search log entry and its clicks are kept; the daily `search-log-retention` deletes older ones",
            minimum=1,
        ),
        Var(
            "SEARCH_LOG_FLUSH_SECONDS",
            "int",
            60,
            "how often `search-log-flush` moves buffered searches and clicks from Redis into the database",
            minimum=5,
        ),
        Var(
            "SEARCH_LOG_BUFFER_MAX",
            "int",
            100_000,
            "searches and clicks the Redis buffer holds between two flushes; past it the oldest are dropped",
            minimum=100,
        ),
        Var(
            "SEARCH_INTERLEAVING",
            "bool",
            True,
            "let a running interleaving experiment show a share of first search pages with production's and a "
            "candidate's rankings interleaved (0: never interleave; needs SEARCH_LOG)",
        ),
    ),
    *_section(
        "Probes and metrics",
        Var(
            "METRICS_TOKEN",
            "secret",
            "",
            "when set, /metrics wants `Authorization: Bearer <token>`; when empty it is open, or 403 with PRODUCTION=1",
        ),
        Var(
            "HEALTHZ_CACHE_SECONDS",
            "float",
            10.0,
            "seconds each process keeps /healthz's counts (0: none)",
            minimum=0.0,
        ),
        Var(
            "METRICS_CACHE_SECONDS", "float", 10.0, "seconds each process keeps /metrics' counts (0: none)", minimum=0.0
        ),
        Var(
            "PROBE_TIMEOUT_SECONDS",
            "float",
            1.0,
            "how long /readyz and /healthz wait for the broker's PING",
            minimum=0.05,
            maximum=30.0,
        ),
        Var(
            "PROMETHEUS_MULTIPROC_DIR",
            "path",
            "",
            "an empty folder shared by gunicorn's workers, so /metrics adds up all of them (read by prometheus_client)",
            elsewhere=True,
        ),
    ),
    *_section(
        "Rate limits",
        Var(
            "RATE_LIMIT_BUDGET",
            "int",
            1200,
            "units one client (an IPv4 address, an IPv6 /64) may spend per window, shared through Redis (0: off)",
            minimum=0,
        ),
        Var("RATE_LIMIT_WINDOW_SECONDS", "int", 60, "the budget's window", minimum=1),
        Var("RATE_LIMIT_COST_SEARCH", "int", 10, "cost of a text search ranked afresh", minimum=0),
        Var(
            "RATE_LIMIT_COST_CACHED",
            "int",
            1,
            "cost of a search answered from the result cache (at most RATE_LIMIT_COST_SEARCH)",
            minimum=0,
        ),
        Var("RATE_LIMIT_COST_IMAGE", "int", 40, "cost of a search by image", minimum=0),
        Var(
            "RATE_LIMIT_COST_OTHER", "int", 2, "cost of anything else charged (a record, /healthz, /metrics)", minimum=0
        ),
        Var(
            "RATE_LIMIT_PROXY_COUNT",
            "int",
            0,
            "proxies in front that append to X-Forwarded-For (0: the client is REMOTE_ADDR)",
            minimum=0,
        ),
        Var(
            "IMAGE_SEARCH_CONCURRENCY", "int", 2, "image searches one web process runs at once; more get 503", minimum=1
        ),
        Var(
            "IMAGE_SEARCH_TOKEN_SECONDS",
            "int",
            1800,
            "how long an uploaded image's vector is kept (never the image) so its search can be paged and filtered",
            minimum=1,
        ),
        Var(
            "IMAGE_SEARCH_TEXT_WEIGHT",
            "float",
            0.5,
            "share of the words' vector in an image-plus-words search (0: the image alone, 1: the words alone)",
            minimum=0.0,
            maximum=1.0,
        ),
        Var(
            "LOGIN_FAILURES_PER_ACCOUNT", "int", 5, "failed admin logins per username in the window (0: off)", minimum=0
        ),
        Var(
            "LOGIN_FAILURES_PER_ADDRESS",
            "int",
            20,
            "failed admin logins per client address in the window (0: off)",
            minimum=0,
        ),
        Var("LOGIN_THROTTLE_WINDOW_SECONDS", "int", 900, "the login throttle's window", minimum=1),
    ),
    *_section(
        "Artifact store",
        Var(
            "ARTIFACT_STORE_URL",
            "str",
            "",
            "where images, fine-tuned checkpoints, ONNX exports and training outputs are kept for every host "
            "(docs/storage.md): an absolute folder (one host) or s3://bucket/prefix (a fleet)",
            shown="VAR_DIR/artifacts",
        ),
        Var(
            "ARTIFACT_STORE_ENDPOINT_URL",
            "str",
            "",
            "an S3-compatible server other than AWS (MinIO, SeaweedFS, Ceph), e.g. http://seaweedfs:8333",
        ),
        Var(
            "ARTIFACT_STORE_ACCESS_KEY_ID",
            "secret",
            "",
            "the store's access key; empty: boto3's own chain (AWS_ACCESS_KEY_ID, AWS_SHARED_CREDENTIALS_FILE, a role)",
        ),
        Var("ARTIFACT_STORE_SECRET_ACCESS_KEY", "secret", "", "the secret of that access key"),
        Var(
            "ARTIFACT_STORE_SHARED_CACHES",
            "bool",
            None,
            "keep downloaded images and ONNX exports in the store too, and look there on a local miss: a fleet "
            "downloads an image and exports a model once (one host: its caches hold the only copy)",
            shown="1 when ARTIFACT_STORE_URL is set",
        ),
        Var("ARTIFACT_STORE_REGION", "str", "", "the bucket's region (empty: boto3's default)"),
        Var(
            "ARTIFACT_STORE_TIMEOUT_SECONDS",
            "float",
            10.0,
            "seconds to wait for the store to connect or answer before it counts as unavailable",
            minimum=0.1,
        ),
    ),
    *_section(
        "Training and logging",
        Var(
            "TRAINING_DIR",
            "path",
            None,
            "fine-tuning jobs' datasets, checkpoints and reports",
            shown="VAR_DIR/training",
        ),
        Var("TRAINING_TIME_LIMIT_SECONDS", "int", 86400, "a fine-tuning job's time limit", minimum=60),
        Var("LOG_LEVEL", "str", "INFO", "root logging level"),
        Var("LOG_FORMAT", "str", "plain", "plain: one readable line per record; json: one JSON object per line"),
    ),
    *_section(
        "make demo and docker-compose only",
        Var("PORT", "int", 8000, "the demo's web port", elsewhere=True),
        Var("SOURCE", "str", "sample", "the demo's collection: sample, aic, or an AIC dump's path", elsewhere=True),
        Var(
            "DEMO_MODEL", "str", "ViT-B-32:laion2b_s34b_b79k", "the demo's CLIP model, ARCH:PRETRAINED", elsewhere=True
        ),
        Var("DEMO_EPOCHS", "int", 30, "epochs of the fallback model the demo trains offline", elsewhere=True),
        Var("DEMO_LIMIT", "int", 1000, "artworks the demo harvests with SOURCE=aic", elsewhere=True),
        Var("FAKE_AIC_PORT", "int", 8001, "port of the demo's sample AIC server", elsewhere=True),
        Var(
            "REDIS_CACHE_MAXMEMORY",
            "str",
            "256mb",
            "docker-compose.yml: memory of the search caches' Redis, beyond which it evicts",
            elsewhere=True,
        ),
        Var(
            "SITE_ADDRESS",
            "str",
            "localhost",
            "docker-compose.yml: the public host name; Caddy obtains its certificate, Django allows it",
            elsewhere=True,
        ),
        Var(
            "REQUEST_BODY_MAX_BYTES",
            "int",
            22_020_096,
            "docker-compose.yml: Caddy refuses a larger request body with 413; IMAGE_MAX_BYTES plus 1 MiB",
            minimum=1024,
            shown="22020096 (21 MiB)",
            elsewhere=True,
        ),
    ),
]

DECLARED = {variable.name: variable for variable in SCHEMA}


def declared(name: str, *kinds: Kind) -> Var:
    """The declaration of ``name``; a name the schema does not hold, or holds as another kind, is a bug."""
    try:
        variable = DECLARED[name]
    except KeyError:
        raise LookupError(f"{name} is not declared in museum_site/config_schema.py") from None
    if variable.kind not in kinds:
        raise TypeError(f"{name} is declared as {variable.kind}, read as {'/'.join(kinds)}")
    return variable


def _fallback(variable: Var, default: Default) -> Default:
    return variable.default if default is None else default


def read_str(name: str, default: str | None = None) -> str:
    variable = declared(name, "str", "path")
    return env.env_str(name, str(_fallback(variable, default) or ""))


def read_secret(name: str, default: str | None = None) -> str:
    """NAME, or the contents of the file NAME_FILE names."""
    variable = declared(name, "secret")
    return env.env_secret(name, str(_fallback(variable, default) or ""))


def read_path(name: str, default: Path) -> Path:
    """NAME as an absolute path; ``default`` where NAME is unset or empty."""
    declared(name, "path")
    return Path(env.env_str(name) or default).resolve()


def read_bool(name: str, default: bool | None = None) -> bool:
    variable = declared(name, "bool")
    return env.env_bool(name, bool(_fallback(variable, default)))


def read_bool_or_auto(name: str) -> bool | None:
    declared(name, "bool_or_auto")
    return env.env_bool_or_auto(name)


def read_int(name: str, default: int | None = None) -> int:
    variable = declared(name, "int")
    value = _fallback(variable, default)
    assert isinstance(value, int), f"{name} needs a default"
    return env.env_int(name, value, minimum=_int(variable.minimum), maximum=_int(variable.maximum))


def read_int_or_auto(name: str) -> int | None:
    variable = declared(name, "int_or_auto")
    return env.env_int_or_auto(name, minimum=_int(variable.minimum), maximum=_int(variable.maximum))


def read_float(name: str) -> float:
    variable = declared(name, "float")
    assert isinstance(variable.default, float), f"{name} needs a default"
    return env.env_float(name, variable.default, minimum=variable.minimum, maximum=variable.maximum)


def read_list(name: str) -> list[str]:
    variable = declared(name, "list")
    default = str(variable.default or "")
    return env.env_list(name, [item for item in default.split(",") if item])


def read_choice(name: str) -> str:
    variable = declared(name, "choice")
    return env.env_choice(name, str(variable.default), variable.choices)


def check_retired() -> None:
    """Stop the process where a renamed variable is still set, naming its replacement."""
    from django.core.exceptions import ImproperlyConfigured

    for old, new in RETIRED.items():
        if env.env_str(old):
            raise ImproperlyConfigured(f"{old} was replaced by {new} (docs/configuration.md)")


def _int(bound: float | None) -> int | None:
    return None if bound is None else int(bound)


# --- Generated files -------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "configuration.md"
ENV_EXAMPLE = ROOT / ".env.example"
REGENERATE = "python -m museum_site.config_schema --write"
BEGIN = f"<!-- BEGIN GENERATED from museum_site/config_schema.py by `{REGENERATE}`; do not edit by hand -->"
END = "<!-- END GENERATED -->"


def _sections() -> dict[str, list[Var]]:
    sections: dict[str, list[Var]] = {}
    for variable in SCHEMA:
        sections.setdefault(variable.section, []).append(variable)
    return sections


def _allowed(variable: Var) -> str:
    if variable.choices:
        return ", ".join(variable.choices)
    if variable.kind in ("bool", "bool_or_auto"):
        return "1/0" + (", auto" if variable.kind == "bool_or_auto" else "")
    if variable.minimum is None and variable.maximum is None:
        return "auto, a number" if variable.kind == "int_or_auto" else ""
    low = "" if variable.minimum is None else f"{variable.minimum:g}"
    high = "" if variable.maximum is None else f"{variable.maximum:g}"
    span = f"≥ {low}" if not high else (f"≤ {high}" if not low else f"{low} to {high}")
    return ("auto, " if variable.kind == "int_or_auto" else "") + span


def reference_markdown() -> str:
    """The reference tables of docs/configuration.md, a section each."""
    lines = []
    for title, variables in _sections().items():
        lines += [f"### {title}", "", "| variable | default | allowed | meaning |", "| --- | --- | --- | --- |"]
        for variable in variables:
            name = f"`{variable.name}` / `{variable.name}_FILE`" if variable.secret else f"`{variable.name}`"
            allowed = _allowed(variable)
            default = variable.default_text()
            shown = default if variable.shown or default == "empty" else f"`{default}`"
            lines.append(f"| {name} | {shown} | {f'`{allowed}`' if allowed else ''} | {variable.help} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def env_example() -> str:
    """.env.example: every variable commented out at its default, under its section."""
    lines = [
        "# Every environment variable of the site, at its default (commented out): uncomment what you change.",
        f"# Generated from museum_site/config_schema.py by `{REGENERATE}`; do not edit by hand.",
        "# A *_FILE variant (SECRET_KEY_FILE, DATABASE_URL_FILE, ...) reads a secret from a file instead.",
    ]
    for title, variables in _sections().items():
        lines += ["", f"# --- {title} ---"]
        for variable in variables:
            allowed = _allowed(variable)
            notes = "; ".join(filter(None, [allowed, f"default: {variable.shown}" if variable.shown else ""]))
            lines.append(f"# {variable.help}" + (f" [{notes}]" if notes else ""))
            value = "" if variable.shown or variable.default_text() == "empty" else variable.default_text()
            lines.append(f"# {variable.name}={value}")
    return "\n".join(lines) + "\n"


def documentation(current: str) -> str:
    """``current`` (docs/configuration.md) with its generated section replaced by the schema's."""
    before, begin, rest = current.partition(BEGIN)
    _, end, after = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"{DOCS} lacks the markers {BEGIN!r} ... {END!r}")
    return f"{before}{BEGIN}\n\n{reference_markdown()}\n{END}{after}"


def stale_files() -> list[Path]:
    """The generated files that differ from what the schema generates now."""
    stale = []
    if DOCS.read_text() != documentation(DOCS.read_text()):
        stale.append(DOCS)
    if not ENV_EXAMPLE.exists() or ENV_EXAMPLE.read_text() != env_example():
        stale.append(ENV_EXAMPLE)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the configuration reference and .env.example.")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite docs/configuration.md's table and .env.example")
    action.add_argument("--check", action="store_true", help="exit 1 when either is out of date")
    args = parser.parse_args(argv)
    if args.write:
        DOCS.write_text(documentation(DOCS.read_text()))
        ENV_EXAMPLE.write_text(env_example())
        return 0
    stale = stale_files()
    for path in stale:
        print(f"{path.relative_to(ROOT)} is out of date with museum_site/config_schema.py: run `{REGENERATE}`")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
