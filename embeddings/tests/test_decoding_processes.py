"""Decoding processes (EMBED_DECODE_PROCESSES) give the vectors threads give, report bad files as
failures, are replaced when killed, end with their parent, and run under a prefork Celery worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from catalog.models import Artwork
from conftest import ROOT, WorkerProcess, wait_until
from embeddings.images.iiif_cache import ImageCache
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel
from embeddings.pipeline import embed_artworks
from embeddings.tasks import embed_artworks_task

pytestmark = pytest.mark.django_db(transaction=True)


def _vectors(model: EmbeddingModel) -> dict[int, np.ndarray]:
    return {e.artwork_id: np.asarray(e.vector) for e in ArtworkEmbedding.objects.filter(model=model)}


def _decoders_of(pid: int) -> set[int]:
    # Linux lists a child under the thread that started it (or took it over when that thread ended).
    children: list[str] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += _read_proc(task / "children").split()
    return {
        int(child)
        for child in children
        if "embeddings.images.decoding_processes" in _read_proc(Path(f"/proc/{child}/cmdline"))
    }


def _read_proc(path: Path) -> str:
    """A /proc file's text, empty when its thread or process has ended since it was listed."""
    try:
        return path.read_bytes().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def test_processes_give_the_vectors_threads_give(
    harvested: list[Artwork], embedding_model: EmbeddingModel, settings: Any
) -> None:
    ids = [a.pk for a in harvested]
    settings.EMBED_DECODE_PROCESSES = 0
    embed_artworks(ids, embedding_model, batch_size=5)  # also downloads every image into the cache
    by_threads = _vectors(embedding_model)
    ArtworkEmbedding.objects.all().delete()

    settings.EMBED_DECODE_PROCESSES = 2
    result = embed_artworks(ids, embedding_model, batch_size=5)
    assert sorted(result.embedded) == sorted(ids) and not result.failed
    assert len(_decoders_of(os.getpid())) == 2
    by_processes = _vectors(embedding_model)
    assert by_processes.keys() == by_threads.keys()
    for pk, vector in by_processes.items():
        np.testing.assert_allclose(vector, by_threads[pk], atol=1e-6)


def test_a_damaged_cached_file_fails_with_its_reason_and_an_evicted_one_is_fetched_again(
    aic: Any, harvested: list[Artwork], embedding_model: EmbeddingModel, settings: Any
) -> None:
    settings.EMBED_DECODE_PROCESSES = 2
    ids = [a.pk for a in harvested]
    embed_artworks(ids, embedding_model)
    ArtworkEmbedding.objects.all().delete()
    cache = ImageCache.from_settings()
    damaged, evicted = harvested[0], harvested[1]
    cache.path_for(damaged.image_id).write_bytes(b"<html>not a picture</html>")
    cache.path_for(evicted.image_id).unlink()
    downloads = aic.count("/iiif/2/")

    result = embed_artworks(ids, embedding_model)
    assert list(result.failed) == [damaged.pk]
    assert "not an image" in EmbeddingFailure.objects.get(artwork=damaged, model=embedding_model).reason
    assert not cache.path_for(damaged.image_id).exists()  # a later try downloads it afresh
    assert sorted(result.embedded) == sorted(set(ids) - {damaged.pk})
    assert aic.count("/iiif/2/") == downloads + 1  # the evicted image, and nothing else
    assert cache.path_for(evicted.image_id).exists()


def test_killed_decoding_processes_are_replaced_and_no_image_is_lost(
    harvested: list[Artwork], embedding_model: EmbeddingModel, settings: Any
) -> None:
    settings.EMBED_DECODE_PROCESSES = 2
    ids = [a.pk for a in harvested]
    embed_artworks(ids, embedding_model)
    first = _vectors(embedding_model)
    killed = _decoders_of(os.getpid())
    assert len(killed) == 2
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    ArtworkEmbedding.objects.all().delete()

    result = embed_artworks(ids, embedding_model)
    assert sorted(result.embedded) == sorted(ids) and not result.failed
    replacements = _decoders_of(os.getpid())
    assert len(replacements) == 2 and not replacements & killed
    for pk, vector in _vectors(embedding_model).items():
        np.testing.assert_allclose(vector, first[pk], atol=1e-6)


def test_decoding_processes_end_when_their_parent_is_killed(tmp_path: Path) -> None:
    image = tmp_path / "picture.jpg"
    from PIL import Image

    Image.new("RGB", (300, 200), "teal").save(image)
    parent = subprocess.Popen(
        [
            sys.executable, "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from embeddings.images.decoding_processes import DecoderPool\n"
            "from embeddings.images.decoding import ResizeCrop\n"
            "pool = DecoderPool(2)\n"
            "recipe = ResizeCrop(size=(64,), interpolation=3, crop=(64, 64))\n"
            "print(pool.prepare([Path(sys.argv[1])], 10**7, None, recipe)[0].shape, flush=True)\n"
            "time.sleep(600)\n",
            str(image),
        ],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert parent.stdout is not None
    assert parent.stdout.readline().strip() == "(64, 64, 3)"
    decoders = _decoders_of(parent.pid)
    assert len(decoders) == 1  # started when first needed
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in decoders):
        time.sleep(0.1)
    # Reparented to init (or a subreaper) once the parent is gone; its status says whether it ran on.
    alive = [
        pid
        for pid in decoders
        if Path(f"/proc/{pid}/status").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
    ]
    assert alive == []


def test_a_prefork_celery_worker_decodes_in_processes(
    worker_env: dict[str, str],
    redis_client: Any,
    sample_aic: Any,
    embedding_model: EmbeddingModel,
    tmp_path: Path,
) -> None:
    queue = f"embed-decoding-processes-{os.getpid()}"
    worker = WorkerProcess(
        dict(worker_env, EMBED_DECODE_PROCESSES="2", IMAGE_CACHE_DIR=str(tmp_path / "cache")),
        queue,
        tmp_path / "worker.log",
    )
    worker.start()
    try:
        artworks = [
            Artwork.objects.create(aic_id=970_000_000 + n, title=path.stem, image_id=path.stem, content_hash=path.stem)
            for n, path in enumerate(sorted((ROOT / "sample_data" / "aic" / "images").glob("*.jpg"))[:6])
        ]
        ids = [a.pk for a in artworks]
        embed_artworks_task.apply_async(args=[ids, embedding_model.pk], queue=queue)  # downloads, decodes in threads
        wait_until(lambda: ArtworkEmbedding.objects.filter(model=embedding_model, artwork_id__in=ids).count() == 6, 120)
        assert len(list((tmp_path / "cache").rglob("*.jpg"))) == 6  # the worker's own cache, filled by that task
        ArtworkEmbedding.objects.filter(model=embedding_model).delete()
        embed_artworks_task.apply_async(args=[ids, embedding_model.pk], queue=queue)  # cached: decoding processes
        wait_until(lambda: ArtworkEmbedding.objects.filter(model=embedding_model, artwork_id__in=ids).count() == 6, 120)

        assert worker.process is not None
        pool_processes = Path(f"/proc/{worker.process.pid}/task/{worker.process.pid}/children").read_text().split()
        assert sum(len(_decoders_of(int(pid))) for pid in pool_processes) == 2
        assert not EmbeddingFailure.objects.filter(model=embedding_model).exists()
        assert "daemonic" not in worker.log.read_text()
    finally:
        worker.stop()
