"""Prometheus metrics: request latency, search internals, and the state of the job queues.

Request and search metrics are counted in the process that serves them. Queue depth,
embedding throughput and harvest lag are read from Redis and PostgreSQL at scrape time, so
every web process reports the same numbers and no worker needs an exporter of its own.
Under gunicorn with several workers set PROMETHEUS_MULTIPROC_DIR (an empty folder) so that
/metrics adds up the counts of every worker.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import redis
from django.conf import settings
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from catalog import sync_status
from catalog.models import Artwork, SyncRun
from core.logging_limits import warn_limited
from core.recent import Recent
from core.redis_clients import OPERATOR_TIMEOUT_SECONDS, redis_client
from embeddings.indexing import failure_counts, index_counts, oldest_pending_artwork
from embeddings.models import ArtworkEmbedding, EmbeddingModel

logger = logging.getLogger(__name__)

REQUEST_SECONDS = Histogram(
    "museum_http_request_duration_seconds",
    "Time to answer an HTTP request, by URL route.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SEARCH_SECONDS = Histogram(
    "museum_search_duration_seconds",
    "Time to rank one search, by mode.",
    ["mode"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
TEXT_TOWER_SECONDS = Histogram(
    "museum_text_tower_duration_seconds",
    "Time the CLIP text tower took to embed one query (cache misses only).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
QUERY_CACHE_LOOKUPS = Counter(
    "museum_query_vector_cache_lookups",
    "Query-vector cache lookups by result: hit, miss, or error (Redis unavailable).",
    ["result"],
)
RESULT_CACHE_LOOKUPS = Counter(
    "museum_search_result_cache_lookups",
    "Search response cache lookups by result: hit, miss, or error (Redis unavailable).",
    ["result"],
)
KEYWORD_LEADER_READS = Counter(
    "museum_search_keyword_leader_reads",
    "Keyword lists whose one-word matches came from frequent words' leader lists (read), or were ranked "
    "in full because a list held too few artworks passing the filters (ran_out).",
    ["outcome"],
)

# The Celery queues of settings.CELERY_TASK_ROUTES, plus the default one.
QUEUES = ("embed", "sync", "default", "train")
EMBED_RATE_WINDOW = timedelta(minutes=5)


def queue_depths() -> dict[str, int]:
    """Messages waiting in each Celery queue of the Redis broker (-1 where Redis cannot be read)."""
    try:
        client = redis_client(settings.CELERY_BROKER_URL, timeout=OPERATOR_TIMEOUT_SECONDS)
        with client.pipeline(transaction=False) as pipe:
            for queue in QUEUES:
                pipe.llen(queue)
            lengths = pipe.execute()
    except redis.RedisError as exc:
        warn_limited(logger, "broker", "cannot read queue depths: %s", exc)
        return dict.fromkeys(QUEUES, -1)
    return {queue: int(length) for queue, length in zip(QUEUES, lengths, strict=True)}


_recent_operations: Recent[list[Metric]] = Recent()


class OperationsCollector(Collector):
    """Gauges read from the broker and the database at a scrape, kept METRICS_CACHE_SECONDS per process
    so that several scrapers (or a burst of them) count once."""

    def collect(self) -> Iterator[Metric]:
        yield from _recent_operations.get(settings.METRICS_CACHE_SECONDS, lambda: list(self._read()))

    def _read(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("museum_queue_depth", "Tasks waiting in a Celery queue.", labels=["queue"])
        for queue, length in queue_depths().items():
            depth.add_metric([queue], length)
        yield depth

        now = timezone.now()
        model = EmbeddingModel.active()
        if model is not None:
            recent = ArtworkEmbedding.objects.filter(model=model, updated_at__gte=now - EMBED_RATE_WINDOW).count()
            rate = GaugeMetricFamily(
                "museum_embeddings_per_second",
                "Vectors written for the active model, averaged over the last five minutes.",
                labels=["model"],
            )
            rate.add_metric([model.name], recent / EMBED_RATE_WINDOW.total_seconds())
            yield rate
            index = GaugeMetricFamily(
                "museum_index_artworks", "Artworks by index state under the active model.", labels=["model", "state"]
            )
            for state, count in index_counts(model).as_dict().items():
                index.add_metric([model.name, state], count)
            yield index
            failures = GaugeMetricFamily(
                "museum_embedding_failures",
                "Artworks (still listed, with an image) whose embedding failed under the active model: "
                "awaiting_retry (a transient failure the sweep retries) or permanent (waits for a new image "
                "or a curator).",
                labels=["model", "kind"],
            )
            for kind, count in failure_counts(model).as_dict().items():
                failures.add_metric([model.name, kind], count)
            yield failures
            oldest = oldest_pending_artwork(model)
            yield GaugeMetricFamily(
                "museum_oldest_pending_artwork_age_seconds",
                "Seconds since the longest-waiting artwork with no vector (and no failure) under the active "
                "model last changed; 0 when none waits.",
                value=max((now - oldest.updated_at).total_seconds(), 0.0) if oldest is not None else 0.0,
            )

        finished = SyncRun.objects.filter(
            source="api", status__in=[SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL]
        ).aggregate(finished=Max("finished_at"))["finished"]
        if finished is not None:
            yield GaugeMetricFamily(
                "museum_harvest_lag_seconds",
                "Seconds since the last successful AIC harvest finished: how far behind AIC the catalog may be.",
                value=(now - finished).total_seconds(),
            )
        newest = Artwork.objects.aggregate(newest=Max("aic_updated_at"))["newest"]
        if newest is not None:
            yield GaugeMetricFamily(
                "museum_catalog_newest_change_age_seconds",
                "Seconds since the newest AIC change the catalog holds was made at AIC.",
                value=(now - newest).total_seconds(),
            )
        last = sync_status.last_complete_sync()
        if last is not None and last.finished_at is not None:
            yield GaugeMetricFamily(
                "museum_last_complete_sync_age_seconds",
                "Seconds since the last complete sync (an API harvest or a dump import) finished.",
                value=(now - last.finished_at).total_seconds(),
            )
        lag = sync_status.sync_lag()
        if lag is not None:
            yield GaugeMetricFamily(
                "museum_sync_lag_seconds",
                "The newest change the source last reported minus the newest change our cursor has reached.",
                value=lag.total_seconds(),
            )
        yield GaugeMetricFamily(
            "museum_artworks_withdrawn",
            "Artworks the source no longer lists, out of every search.",
            value=sync_status.withdrawn_count(),
        )


def _registries() -> list[CollectorRegistry]:
    operations = CollectorRegistry()  # no auto_describe: that would read the database once more per scrape
    operations.register(OperationsCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        process_counts = CollectorRegistry()
        multiprocess.MultiProcessCollector(process_counts)  # type: ignore[no-untyped-call]
        return [process_counts, operations]
    return [REGISTRY, operations]


def token_problem(request: HttpRequest) -> HttpResponse | None:
    """The refusal for a scrape that may not read /metrics, or None when it may.

    With METRICS_TOKEN set, the request must send ``Authorization: Bearer <token>`` (compared in
    constant time) or get 401. Without one, /metrics is open, except with PRODUCTION=1, where it
    answers 403 until a token is set: an internet-facing site shows its internals to no one.
    """
    token = settings.METRICS_TOKEN
    if not token:
        if settings.PRODUCTION:
            return HttpResponse("metrics are off: set METRICS_TOKEN\n", status=403, content_type="text/plain")
        return None
    sent = request.headers.get("Authorization", "").encode()
    if not hmac.compare_digest(sent, f"Bearer {token}".encode()):
        response = HttpResponse("metrics need a bearer token\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return None


def metrics_response(request: HttpRequest) -> HttpResponse:
    """The Prometheus text exposition of every metric, or ``token_problem``'s refusal."""
    if (refusal := token_problem(request)) is not None:
        return refusal
    body = b"".join(generate_latest(registry) for registry in _registries())
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


class RequestMetricsMiddleware:
    """Times every request into museum_http_request_duration_seconds, labelled by URL route (not path)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        route = (match.route or match.view_name) if match is not None else "unmatched"
        REQUEST_SECONDS.labels(request.method or "", route or "unmatched", str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response
