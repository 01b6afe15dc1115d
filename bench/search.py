"""Search: HNSW recall and latency in the database, and /api/search end to end through gunicorn.

    python -m bench.search [--n 100000] [--queries 300]

A synthetic collection of ``n`` artworks (clustered, low-dimensional CLIP-like vectors, see
bench.vectors; texts, departments and public-domain flags from the bundled sample) is loaded
into its own database with COPY, then its model's HNSW index is built as the site builds it.

- database: ``search.vector.nearest`` (the code behind every vector search) for text-like
  query vectors: recall@10 against exact search (numpy), and p50/p99 milliseconds (warm);
  the same with filters (public domain only; one small department), which pgvector answers
  with iterative index scans;
- API: gunicorn as in production (2 workers x 4 threads), the ViT-B-32 text tower (random
  weights, same arithmetic), ``GET /api/search?q=…`` with the site's defaults: p50 of fresh
  queries (never seen: the text tower runs), of repeated ones (answered from the Redis result
  cache; also measured with it off, the query vector alone cached), and repeated queries per
  second driven by wrk (or a Python load generator) in a second process over loopback; fresh
  queries side by side with the text tower as its ONNX export (the default) and as open_clip's,
  two servers, alternating.
Targets: recall ≥ 0.95 (filtered too), p50 ≤ 5 ms and p99 ≤ 20 ms in the database; fresh ≤ 40 ms,
repeated ≤ 8 ms, ≥ 150 requests/s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from bench import vectors
from bench.environment import ROOT, sample_records

SEARCH_DATABASE = "museum_bench_search"
SEARCH_AIC_ID_BASE = 100_000_000
CORPUS_VERSION = 2
K = 10
# AIC departments, roughly in the proportions of the collection.
DEPARTMENTS = [
    ("Prints and Drawings", 0.36),
    ("Photography and Media", 0.12),
    ("Arts of Asia", 0.10),
    ("Architecture and Design", 0.08),
    ("Textiles", 0.06),
    ("Painting and Sculpture of Europe", 0.06),
    ("Arts of the Americas", 0.06),
    ("Modern Art", 0.04),
    ("Contemporary Art", 0.04),
    ("Applied Arts of Europe", 0.04),
    ("Arts of Africa", 0.02),
    ("Arts of Greece, Rome, and Byzantium", 0.02),
]
FILTER_DEPARTMENT = "Arts of Africa"
ADJECTIVES = [
    "stormy",
    "quiet",
    "golden",
    "dark",
    "misty",
    "bright",
    "ancient",
    "frozen",
    "crowded",
    "lonely",
    "red",
    "blue",
    "green",
    "white",
    "burning",
    "gentle",
]
SUBJECTS = [
    "sea",
    "harbour",
    "forest",
    "river",
    "mountain",
    "garden",
    "portrait",
    "city",
    "street",
    "church",
    "ship",
    "horse",
    "dancer",
    "bridge",
    "field",
    "market",
    "village",
    "cathedral",
    "lake",
    "flowers",
]
SETTINGS = [
    "at night",
    "at dawn",
    "in winter",
    "in the rain",
    "under a full moon",
    "in summer light",
    "with figures",
    "in the snow",
    "at sunset",
    "by candlelight",
    "in autumn",
    "from above",
]


def _load_corpus(model: Any, n: int, seed: int) -> dict[str, float]:
    """Artworks and vectors for ``n`` (replacing any other size), then the model's HNSW index, timed."""
    from django.conf import settings
    from django.db import connection
    from pgvector.psycopg.vector import register_vector_info
    from psycopg.types import TypeInfo

    from catalog.ingest import _curation_defaults
    from catalog.models import Artwork
    from catalog.records import parse_record
    from catalog.word_leaders import rebuild_word_leaders
    from embeddings.models import ArtworkEmbedding

    timings: dict[str, float] = {}
    started = time.perf_counter()
    all_vectors, labels = vectors.collection(n, seed)
    timings["generate_s"] = time.perf_counter() - started
    rng = np.random.default_rng(seed + 3)
    names = [name for name, _ in DEPARTMENTS]
    shares = np.array([share for _, share in DEPARTMENTS])
    # Half of each cluster shares its department (styles cluster by department); the rest is spread.
    cluster_department = rng.choice(len(names), size=labels.max() + 1, p=shares / shares.sum())
    spread = rng.choice(len(names), size=n, p=shares / shares.sum())
    department = np.where(rng.random(n) < 0.5, cluster_department[labels], spread)
    public_domain = rng.random(n) < 0.45
    templates = [parse_record(record) for record in sample_records()]

    model.drop_index()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM embeddings_artworkembedding WHERE model_id = %s", [model.pk])
        cursor.execute("DELETE FROM catalog_artwork WHERE aic_id >= %s", [SEARCH_AIC_ID_BASE])
    columns = [
        "aic_id", "title", "artist_display", "date_display", "date_start", "date_end", "medium_display",
        "description", "short_description", "department_title", "artwork_type_title", "classification_titles",
        "subject_titles", "is_public_domain", "is_on_view", "image_id", "raw", "content_hash",
        "is_hidden", "boost", "curator_note", "description_override", "created_at", "updated_at",
        "place_of_origin", "dimensions", "description_html", "alt_text", "style_titles", "term_titles",
        "artist_title",
    ]  # fmt: skip
    types = [
        "int4", "text", "text", "text", "int4", "int4", "text", "text", "text", "text", "text", "text[]",
        "text[]", "bool", "bool", "text", "jsonb", "text", "bool", "float8", "text", "text", "timestamptz",
        "timestamptz", "text", "text", "text", "text", "text[]", "text[]", "text",
    ]  # fmt: skip
    # The curation fields this COPY writes; the others (withdrawal) keep their column defaults.
    hidden, boost, note, override = _curation_defaults()[:4]
    from django.utils import timezone
    from psycopg.types.json import Jsonb

    now = timezone.now()
    connection.ensure_connection()
    raw = connection.connection
    copy_sql = f"COPY catalog_artwork ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    with transaction_block(), raw.cursor() as cursor, cursor.copy(copy_sql) as copy:
        copy.set_types(types)
        for index in range(n):
            fields = templates[index % len(templates)].fields
            year = int(1400 + (index * 7919) % 620)
            copy.write_row(
                (
                    SEARCH_AIC_ID_BASE + index,
                    f"{fields['title'] or 'Untitled'} {index // len(templates) + 1}",
                    fields["artist_display"],
                    str(year),
                    year,
                    year + index % 5,
                    fields["medium_display"],
                    fields["description"],
                    fields["short_description"],
                    names[department[index]],
                    fields["artwork_type_title"],
                    fields["classification_titles"],
                    fields["subject_titles"],
                    bool(public_domain[index]),
                    False,
                    f"bench-search-{index:08d}",
                    Jsonb({}),
                    "bench",
                    hidden,
                    boost,
                    note,
                    override,
                    now,
                    now,
                    fields["place_of_origin"],
                    fields["dimensions"],
                    fields["description_html"],
                    fields["alt_text"],
                    fields["style_titles"],
                    fields["term_titles"],
                    fields["artist_title"],
                )
            )
    timings["artworks_s"] = time.perf_counter() - started

    started = time.perf_counter()
    pks = dict(Artwork.objects.filter(aic_id__gte=SEARCH_AIC_ID_BASE).values_list("aic_id", "pk"))
    vector_type = TypeInfo.fetch(raw, "vector")
    table = ArtworkEmbedding._meta.db_table
    with transaction_block(), raw.cursor() as cursor:
        register_vector_info(cursor, vector_type)
        sql = (
            f"COPY {table} (artwork_id, model_id, vector, image_id, created_at, updated_at) FROM STDIN (FORMAT BINARY)"
        )
        with cursor.copy(sql) as copy:
            copy.set_types(["int8", "int8", "vector", "text", "timestamptz", "timestamptz"])
            for index in range(n):
                copy.write_row(
                    (
                        pks[SEARCH_AIC_ID_BASE + index],
                        model.pk,
                        all_vectors[index],
                        f"bench-search-{index:08d}",
                        now,
                        now,
                    )
                )
    timings["vectors_s"] = time.perf_counter() - started

    started = time.perf_counter()
    with connection.cursor() as cursor:
        # The graph is built in memory when it fits (about 2.5 KB per 512-d vector), else much slower.
        cursor.execute("SET maintenance_work_mem = %s", [f"{max(256, n * 4 // 1000)}MB"])
        cursor.execute("SET max_parallel_maintenance_workers = %s", [max(0, (os.cpu_count() or 1) - 1)])
        model.ensure_index(m=settings.HNSW_M, ef_construction=settings.HNSW_EF_CONSTRUCTION)
        cursor.execute("ANALYZE catalog_artwork")
        cursor.execute(f"ANALYZE {table}")
        cursor.execute("SELECT pg_relation_size(%s)", [model.hnsw_index_name])
        timings["index_mb"] = cursor.fetchone()[0] / 1e6
    timings["index_build_s"] = time.perf_counter() - started
    timings["word_leaders_s"] = rebuild_word_leaders().seconds
    model.notes = _corpus_note(n, seed)
    model.save(update_fields=["notes"])
    return timings


def transaction_block() -> Any:
    from django.db import transaction

    return transaction.atomic()


def _corpus_note(n: int, seed: int) -> str:
    return f"synthetic collection n={n} seed={seed} version={CORPUS_VERSION}"


def _database_figures(model: Any, n: int, seed: int, query_count: int) -> dict[str, Any]:
    from django.conf import settings

    from catalog.models import Artwork
    from search.filters import SearchFilters
    from search.vector import few_enough_to_rank_all, nearest

    all_vectors, _ = vectors.collection(n, seed)
    query_vectors = vectors.queries(n, query_count, seed)
    rows = Artwork.objects.filter(aic_id__gte=SEARCH_AIC_ID_BASE).order_by("aic_id")
    flags = list(rows.values_list("is_public_domain", "department_title"))
    public_domain = np.array([flag for flag, _ in flags])
    in_department = np.array([department == FILTER_DEPARTMENT for _, department in flags])

    def exact(mask: np.ndarray | None) -> list[set[int]]:
        found: list[set[int]] = []
        for start in range(0, len(query_vectors), 50):
            scores = query_vectors[start : start + 50] @ all_vectors.T
            if mask is not None:
                scores[:, ~mask] = -np.inf
            top = np.argpartition(-scores, K, axis=1)[:, :K]
            found.extend(set(row.tolist()) for row in top)
        return found

    def run(filters: SearchFilters | None, truth: list[set[int]]) -> tuple[float, list[float]]:
        for query in query_vectors:  # warm-up pass: the pages these queries need, into shared buffers
            nearest(model, query, K, filters=filters)
        recalls, times = [], []
        for query, expected in zip(query_vectors, truth, strict=True):
            started = time.perf_counter()
            hits = nearest(model, query, K, filters=filters)
            times.append((time.perf_counter() - started) * 1000)
            found = {hit.artwork.aic_id - SEARCH_AIC_ID_BASE for hit in hits}
            recalls.append(len(found & expected) / K)
        return float(np.mean(recalls)), times

    from bench.environment import percentile

    figures: dict[str, Any] = {}
    truth, truth_pd, truth_dept = exact(None), exact(public_domain), exact(in_department)
    recall, times = run(None, truth)
    figures.update(recall_at_10=round(recall, 4), db_p50_ms=round(percentile(times, 0.5), 2))
    figures["db_p99_ms"] = round(percentile(times, 0.99), 2)
    recall_pd, times_pd = run(SearchFilters(is_public_domain=True), truth_pd)
    recall_dept, times_dept = run(SearchFilters(department=FILTER_DEPARTMENT), truth_dept)
    figures["filtered_recall_at_10"] = round(min(recall_pd, recall_dept), 4)
    figures["filtered"] = {
        "public_domain": {
            "share": round(float(public_domain.mean()), 3),
            "recall_at_10": round(recall_pd, 4),
            "p50_ms": round(percentile(times_pd, 0.5), 2),
            "p99_ms": round(percentile(times_pd, 0.99), 2),
        },
        "department": {
            "name": FILTER_DEPARTMENT,
            "share": round(float(in_department.mean()), 3),
            "recall_at_10": round(recall_dept, 4),
            "p50_ms": round(percentile(times_dept, 0.5), 2),
            "p99_ms": round(percentile(times_dept, 0.99), 2),
            "exact_search": few_enough_to_rank_all(SearchFilters(department=FILTER_DEPARTMENT)),
        },
    }
    sweep = {}
    default_ef = settings.HNSW_EF_SEARCH
    # The sweep walks the index for every filter, the small department too (which the site answers by
    # exact search below SEARCH_EXACT_SCAN_MAX artworks): what ef_search buys when the index answers.
    exact_scan_max = settings.SEARCH_EXACT_SCAN_MAX
    settings.SEARCH_EXACT_SCAN_MAX = 0
    for ef in (40, 100, 150, 200, 300, 400):
        settings.HNSW_EF_SEARCH = ef
        recall_ef, times_ef = run(None, truth)
        recall_ef_pd, _ = run(SearchFilters(is_public_domain=True), truth_pd)
        recall_ef_dept, _ = run(SearchFilters(department=FILTER_DEPARTMENT), truth_dept)
        sweep[str(ef)] = {
            "recall_at_10": round(recall_ef, 4),
            "p50_ms": round(percentile(times_ef, 0.5), 2),
            "p99_ms": round(percentile(times_ef, 0.99), 2),
            "public_domain_recall_at_10": round(recall_ef_pd, 4),
            "department_recall_at_10": round(recall_ef_dept, 4),
        }
    settings.HNSW_EF_SEARCH = default_ef
    settings.SEARCH_EXACT_SCAN_MAX = exact_scan_max
    figures["ef_search_sweep"] = sweep
    from django.db import connection

    with connection.cursor() as cursor:
        # The index as it was built (a collection loaded earlier keeps its graph), not today's settings.
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [model.hnsw_index_name])
        built = dict(re.findall(r"(m|ef_construction)='?(\d+)", cursor.fetchone()[0]))
        figures["hnsw"] = {name: int(value) for name, value in built.items()} | {"ef_search": default_ef}
        cursor.execute("SHOW shared_buffers")
        figures["shared_buffers"] = cursor.fetchone()[0]
    figures["department_filter_variants"] = _department_variants(model, query_vectors, truth_dept)
    sql_times = _bare_sql_times(model, query_vectors)
    figures["db_sql_p50_ms"] = round(percentile(sql_times, 0.5), 2)
    figures["db_sql_p99_ms"] = round(percentile(sql_times, 0.99), 2)
    return figures


# What the model's HNSW index orders by (EmbeddingModel.index_distance), as SQL.
_INDEX_ORDER = "e.vector::halfvec({dimension}) <=> %(query)s::halfvec({dimension})"


def _department_variants(model: Any, query_vectors: np.ndarray, truth: list[set[int]]) -> dict[str, Any]:
    """Recall of the department-filtered scan in hand-written SQL, three ways: as ``nearest`` asks
    (relaxed order, LIMIT k), in strict order, and relaxed with 4 k candidates re-ranked."""
    import psycopg
    from django.conf import settings
    from pgvector.psycopg import register_vector

    from bench.environment import percentile

    base = (
        f"SELECT a.aic_id, e.vector::vector({model.dimension}) <=> %(query)s AS distance "
        "FROM embeddings_artworkembedding e JOIN catalog_artwork a ON a.id = e.artwork_id "
        "WHERE e.model_id = %(model)s AND NOT a.is_hidden AND a.withdrawn_at IS NULL "
        "AND upper(a.department_title) = upper(%(department)s) "
        f"ORDER BY {_INDEX_ORDER.format(dimension=int(model.dimension))} LIMIT %(limit)s"
    )
    variants = {
        "relaxed_limit_k": ("relaxed_order", base, K),
        "strict_limit_k": ("strict_order", base, K),
        "relaxed_4k_reranked": (
            "relaxed_order",
            f"SELECT aic_id, distance FROM ({base}) AS candidates ORDER BY distance LIMIT {K}",
            4 * K,
        ),
    }
    found: dict[str, Any] = {}
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as connection:
        register_vector(connection)
        connection.execute(f"SET hnsw.ef_search = {int(settings.HNSW_EF_SEARCH)}")
        for name, (order, sql, limit) in variants.items():
            connection.execute(f"SET hnsw.iterative_scan = {order}")
            recalls, times = [], []
            for query, expected in zip(query_vectors, truth, strict=True):
                started = time.perf_counter()
                values = {"query": query, "model": model.pk, "department": FILTER_DEPARTMENT, "limit": limit}
                rows = connection.execute(sql, values).fetchall()
                times.append((time.perf_counter() - started) * 1000)
                recalls.append(len({aic_id - SEARCH_AIC_ID_BASE for aic_id, _ in rows[:K]} & expected) / K)
            found[name] = {
                "recall_at_10": round(float(np.mean(recalls)), 4),
                "p50_ms": round(percentile(times, 0.5), 2),
            }
    return found


def _bare_sql_times(model: Any, query_vectors: np.ndarray) -> list[float]:
    """The same index scan as ``nearest`` in one hand-written statement on a plain psycopg connection:
    what the database itself costs, without the ORM's queries and objects around it."""
    import psycopg
    from django.conf import settings
    from pgvector.psycopg import register_vector

    sql = (
        f"SELECT e.artwork_id, e.vector::vector({model.dimension}) <=> %(query)s AS distance "
        "FROM embeddings_artworkembedding e JOIN catalog_artwork a ON a.id = e.artwork_id "
        "WHERE e.model_id = %(model)s AND NOT a.is_hidden AND a.withdrawn_at IS NULL "
        f"ORDER BY {_INDEX_ORDER.format(dimension=int(model.dimension))} LIMIT %(limit)s"
    )
    times = []
    with psycopg.connect(os.environ["DATABASE_URL"]) as connection:
        register_vector(connection)
        connection.execute(f"SET hnsw.ef_search = {int(settings.HNSW_EF_SEARCH)}")
        connection.execute("SET hnsw.iterative_scan = relaxed_order")
        connection.commit()
        for index, query in enumerate(query_vectors):
            started = time.perf_counter()
            connection.execute(sql, {"query": query, "model": model.pk, "limit": K}).fetchall()
            if index >= 20:  # the first ones warm the pages
                times.append((time.perf_counter() - started) * 1000)
    return times


def text_queries(count: int, seed: int) -> list[str]:
    combos = [f"a {a} {s} {w}" for a in ADJECTIVES for s in SUBJECTS for w in SETTINGS]
    random.Random(seed).shuffle(combos)
    return combos[:count]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Gunicorn:
    """The site under gunicorn, as the production image runs it, on a loopback port."""

    def __init__(self, log: Path, root: Path = ROOT, **environment: str) -> None:
        self.port = _free_port()
        self.log = log
        self.root = root  # the checkout it serves
        self.environment = environment
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="museum_site.settings",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            LOG_LEVEL="WARNING",
            # The per-client request budget would refuse a load test from one address.
            RATE_LIMIT_BUDGET="0",
            SEARCH_DEVICE="cpu",
        )
        env.update(self.environment)
        command = [
            sys.executable, "-m", "gunicorn", "museum_site.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
            "--workers", "2", "--threads", "4", "--log-level", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            cwd=self.root,
            env=env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited: {self.log.read_text()[-3000:]}")
            try:
                status, _ = self.get("/api/search?q=warm+up")
                if status == 200:
                    return self
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"gunicorn did not answer: {self.log.read_text()[-3000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def get(self, path: str, connection: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
        own = connection is None
        connection = connection or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            if own:
                connection.close()


def _timed_requests(server: Gunicorn, paths: list[str]) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    times = []
    for path in paths:
        started = time.perf_counter()
        status, body = server.get(path, connection)
        times.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise SystemExit(f"GET {path}: HTTP {status}: {body[:300]!r}")
    connection.close()
    return times


def _load(server: Gunicorn, paths: list[str], seconds: int, connections: int) -> dict[str, Any]:
    """Requests per second for ``paths`` (round robin), driven from another process."""
    wrk = shutil.which("wrk")
    if wrk:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write("paths = {" + ",".join(json.dumps(path) for path in paths) + "}\n")
            script.write(
                "i = 0\nrequest = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n"
            )
            script.write(
                "done = function(summary, latency, requests)\n"
                '  io.write(string.format(\'JSON {"requests": %d, "errors": %d, "p50_ms": %.3f, "p99_ms": %.3f}\\n\','
                " summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read"
                " + summary.errors.write + summary.errors.timeout, latency:percentile(50) / 1000,"
                " latency:percentile(99) / 1000))\nend\n"
            )
        command = [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "-s",
            script.name,
            f"http://127.0.0.1:{server.port}",
        ]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        os.unlink(script.name)
        summary = json.loads(next(line[5:] for line in output.splitlines() if line.startswith("JSON ")))
        rate = float(next(line.split()[1] for line in output.splitlines() if line.startswith("Requests/sec:")))
        return {"tool": "wrk", "requests_per_s": rate, "connections": connections, "seconds": seconds, **summary}
    command = [
        sys.executable, "-m", "bench.load", "--port", str(server.port), "--seconds", str(seconds),
        "--connections", str(connections), *paths,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return {"tool": "bench.load", **json.loads(output.strip().splitlines()[-1])}


def _api_figures(model: Any, query_count: int, seed: int) -> dict[str, Any]:
    from django.conf import settings

    from bench.environment import BENCH_DIR, percentile
    from core.redis_clients import WORKER_TIMEOUT_SECONDS, redis_client
    from embeddings.encoders.onnx_export import export_text_tower

    export_text_tower(model)  # what registration does; a model registered before has none yet
    # Redis database of the benchmarks alone: every query is fresh again.
    redis_client(settings.REDIS_URL, timeout=WORKER_TIMEOUT_SECONDS).flushdb()
    queries = text_queries(query_count + 20, seed)
    warm, fresh = queries[:20], queries[20:]
    paths = [f"/api/search?q={quote(query)}" for query in fresh]
    log = BENCH_DIR / "gunicorn.log"
    figures: dict[str, Any] = {"query_cache": settings.SEARCH_QUERY_CACHE_SECONDS > 0}
    with Gunicorn(log) as server:
        # Each worker loads the text tower on its first query.
        _timed_requests(server, [f"/api/search?q={quote(query)}" for query in warm])
        fresh_times = _timed_requests(server, paths)
        cached_times = _timed_requests(server, paths)
        semantic_paths = [f"/api/search?mode=semantic&q={quote(q + ' again')}" for q in fresh]
        semantic_fresh = _timed_requests(server, semantic_paths)
        semantic_cached = _timed_requests(server, semantic_paths)
        load = _load(server, paths, seconds=10, connections=4)
        load_semantic = _load(server, semantic_paths, seconds=10, connections=4)
    # The same repeated queries with whole answers not cached (the query vector still is): what the
    # result cache saves, side by side.
    with Gunicorn(log, SEARCH_RESULT_CACHE_SECONDS="0") as server:
        _timed_requests(server, [f"/api/search?q={quote(query)}" for query in warm])
        vector_cached_times = _timed_requests(server, paths)
        load_vector_cached = _load(server, paths, seconds=10, connections=4)
    # Side by side: the web process's text tower as an ONNX export (the default) and as open_clip's,
    # two servers, queries alternating between them, neither reading Redis for query vectors.
    uncached = {"SEARCH_QUERY_CACHE_SECONDS": "0", "SEARCH_RESULT_CACHE_SECONDS": "0"}
    paired: dict[str, list[float]] = {"onnx": [], "torch": []}
    with (
        Gunicorn(log, SEARCH_ENCODER_RUNTIME="onnx", **uncached) as onnx_server,
        Gunicorn(log, SEARCH_ENCODER_RUNTIME="torch", **uncached) as torch_server,
    ):
        servers = {"onnx": onnx_server, "torch": torch_server}
        for server in servers.values():
            _timed_requests(server, [f"/api/search?q={quote(query)}" for query in warm])
        for index, path in enumerate(paths):
            order = ("onnx", "torch") if index % 2 == 0 else ("torch", "onnx")
            for runtime in order:
                paired[runtime] += _timed_requests(servers[runtime], [path])
    figures.update(
        api_fresh_onnx_paired_p50_ms=round(percentile(paired["onnx"], 0.5), 2),
        api_fresh_torch_paired_p50_ms=round(percentile(paired["torch"], 0.5), 2),
        ratio_fresh_onnx_to_torch=round(percentile(paired["onnx"], 0.5) / percentile(paired["torch"], 0.5), 3),
    )
    figures.update(
        api_fresh_p50_ms=round(percentile(fresh_times, 0.5), 2),
        api_cached_p50_ms=round(percentile(cached_times, 0.5), 2),
        cached_rps=round(load["requests_per_s"], 1),
        api_fresh_p99_ms=round(percentile(fresh_times, 0.99), 2),
        api_cached_p99_ms=round(percentile(cached_times, 0.99), 2),
        api_semantic_fresh_p50_ms=round(percentile(semantic_fresh, 0.5), 2),
        api_semantic_cached_p50_ms=round(percentile(semantic_cached, 0.5), 2),
        cached_rps_semantic=round(load_semantic["requests_per_s"], 1),
        load=load,
        load_semantic=load_semantic,
        api_vector_cached_p50_ms=round(percentile(vector_cached_times, 0.5), 2),
        vector_cached_rps=round(load_vector_cached["requests_per_s"], 1),
    )
    return figures


def _api_rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("/api/search fresh p50 (hybrid)", f"{figures['api_fresh_p50_ms']:.2f} ms  (target ≤ 40)"),
        (
            "fresh p50, side by side: ONNX / PyTorch",
            f"{figures['api_fresh_onnx_paired_p50_ms']:.2f} / {figures['api_fresh_torch_paired_p50_ms']:.2f} ms "
            f"(x {figures['ratio_fresh_onnx_to_torch']:.3f}; text tower as an ONNX export / open_clip's)",
        ),
        ("/api/search repeated p50", f"{figures['api_cached_p50_ms']:.2f} ms  (target ≤ 8)"),
        (
            "repeated, result cache off: p50 / rate",
            f"{figures['api_vector_cached_p50_ms']:.2f} ms / {figures['vector_cached_rps']:.1f} requests/s "
            "(query vector cached)",
        ),
        (
            "semantic mode fresh / repeated p50",
            f"{figures['api_semantic_fresh_p50_ms']:.2f} / {figures['api_semantic_cached_p50_ms']:.2f} ms",
        ),
        (
            f"repeated queries, {figures['load']['tool']} ({figures['load']['connections']} connections)",
            f"{figures['cached_rps']:.1f} requests/s  (target ≥ 150)",
        ),
        ("repeated queries, semantic mode", f"{figures['cached_rps_semantic']:.1f} requests/s"),
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="artworks (and vectors)")
    parser.add_argument("--queries", type=int, default=300, help="query vectors for the database figures")
    parser.add_argument("--api-queries", type=int, default=100, help="text queries for the API figures")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reload", action="store_true", help="rebuild the collection even if it is there")
    parser.add_argument("--skip-api", action="store_true", help="database figures only")
    parser.add_argument("--api-only", action="store_true", help="API figures only (the collection as loaded)")
    args = parser.parse_args(argv)

    from bench.environment import configure, machine, print_table

    configure(database=SEARCH_DATABASE)
    from bench.models import register_random_model
    from catalog.models import FrequentWord
    from catalog.word_leaders import rebuild_word_leaders
    from embeddings.models import ArtworkEmbedding

    model: Any = register_random_model("bench-search", "ViT-B-32", activate=True)
    loaded = ArtworkEmbedding.objects.filter(model=model).count()
    timings: dict[str, float] = {}
    if args.reload or model.notes != _corpus_note(args.n, args.seed) or loaded != args.n:
        timings = _load_corpus(model, args.n, args.seed)
    elif not FrequentWord.objects.exists():  # a collection loaded before the keyword lists
        timings["word_leaders_s"] = rebuild_word_leaders().seconds
    if args.api_only:
        figures: dict[str, Any] = {
            "n": args.n,
            **_api_figures(model, args.api_queries, args.seed),
            "load_timings_s": {key: round(value, 1) for key, value in timings.items()},
            "machine": machine(),
        }
        print_table(f"/api/search over {args.n:,} artworks", _api_rows(figures))
        print(json.dumps(figures))
        return figures
    figures = {"n": args.n, **_database_figures(model, args.n, args.seed, args.queries)}
    if not args.skip_api:
        figures.update(_api_figures(model, args.api_queries, args.seed))
    figures["load_timings_s"] = {key: round(value, 1) for key, value in timings.items()}
    figures["machine"] = machine()

    filtered, hnsw = figures["filtered"], figures["hnsw"]
    rows = [
        (
            "HNSW recall@10 vs exact",
            f"{figures['recall_at_10']:.4f}  (target ≥ 0.95; m {hnsw.get('m')}, "
            f"ef_construction {hnsw.get('ef_construction')}, ef_search {hnsw['ef_search']})",
        ),
        (
            "database p50 / p99 (nearest)",
            f"{figures['db_p50_ms']:.2f} / {figures['db_p99_ms']:.2f} ms  (targets ≤ 5 / ≤ 20)",
        ),
        (
            f"filtered: public domain ({filtered['public_domain']['share']:.0%})",
            f"recall {filtered['public_domain']['recall_at_10']:.4f}, p50 {filtered['public_domain']['p50_ms']:.2f} ms",
        ),
        (
            f"filtered: {FILTER_DEPARTMENT} ({filtered['department']['share']:.1%})",
            f"recall {filtered['department']['recall_at_10']:.4f}, p50 {filtered['department']['p50_ms']:.2f} ms",
        ),
        *[
            (
                f"ef_search {ef}",
                f"recall {row['recall_at_10']:.4f}, p50 {row['p50_ms']:.2f} ms; filtered recall "
                f"{row['public_domain_recall_at_10']:.4f} / {row['department_recall_at_10']:.4f}",
            )
            for ef, row in figures["ef_search_sweep"].items()
        ],
    ]
    if not args.skip_api:
        rows += _api_rows(figures)
    if timings:
        rows.append(
            (
                "loading (s)",
                ", ".join(
                    f"{key.removesuffix('_s')} {value:.1f}" for key, value in timings.items() if key != "index_mb"
                ),
            )
        )
        rows.append(("HNSW index size", f"{timings['index_mb']:.0f} MB"))
    print_table(f"Search over {args.n:,} artworks (512-d, synthetic CLIP-like vectors)", rows)
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
