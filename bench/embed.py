"""Embedding throughput: the real task path against a bare forward pass and the naive loop.

    python -m bench.embed [--model ViT-B-32] [--n 512] [--batch-size 32] [--device auto]

Three ways over the same cached images, same model object, batch size and device, one run:
- bare: ``model.encode_image`` on ready-made tensors already on the device (the ceiling);
- pipeline: ``embeddings.tasks.embed_artworks_task`` (read, decode, preprocess, forward, upsert
  into pgvector), one task per ``--task-size`` artworks;
- naive: one image at a time: decode, preprocess, forward, one-row insert.
They run in turn: a bare pass over as many images as one task, then the task, round after
round, so load from neighbours on a shared machine falls on both alike (the median of the
rounds' ratios is printed beside the totals, and the CPU time each way).
Weights are random (seeded): the arithmetic, hence the speed, is the real model's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any


def _run_tasks(ids: list[int], model_id: int, task_size: int) -> None:
    from embeddings.tasks import embed_artworks_task

    for start in range(0, len(ids), task_size):
        outcome = embed_artworks_task(ids[start : start + task_size], model_id)
        if outcome.get("failed"):
            raise SystemExit(f"pipeline failed on some images: {outcome['failed']}")


def _decoders_per_process(args: argparse.Namespace) -> int:
    """EMBED_DECODE_PROCESSES of each of several embedding processes: the option, or a share of the cores on CUDA."""
    if args.decode_processes != "auto":
        return int(args.decode_processes)
    return max(1, len(os.sched_getaffinity(0)) // args.processes) if args.device == "cuda" else 0


def _pipeline_in_processes(args: argparse.Namespace, ids: list[int]) -> float:
    """Images/s of ``args.processes`` worker processes sharing the device, as ``celery worker -c P`` runs."""
    share = -(-len(ids) // args.processes)
    env = dict(os.environ)
    env["EMBED_DECODE_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) // args.processes))
    env["EMBED_DECODE_PROCESSES"] = str(_decoders_per_process(args))
    children = []
    for start in range(0, len(ids), share):
        command = [
            sys.executable, "-m", "bench.embed", "--model", args.model, "--batch-size", str(args.batch_size),
            "--device", args.device, "--task-size", str(args.task_size), "--child", ",".join(map(str, ids[start : start + share])),
        ]  # fmt: skip
        children.append(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env))
    for child in children:  # each has loaded its model and warmed up
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise SystemExit("an embedding process did not start")
    started = time.perf_counter()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        if child.wait() != 0:
            raise SystemExit("an embedding process failed")
    return len(ids) / (time.perf_counter() - started)


def _child(args: argparse.Namespace) -> None:
    from bench.environment import configure

    configure(migrate=False)
    from django.conf import settings

    from embeddings.models import EmbeddingModel
    from embeddings.pipeline import embed_artworks

    settings.EMBED_FORWARD_BATCH_SIZE = args.batch_size
    model = EmbeddingModel.objects.get(name=f"bench-{args.model.lower()}")
    ids = [int(pk) for pk in args.child.split(",")]
    embed_artworks(ids[: args.batch_size], model)  # warm-up: model load, kernels, connection
    print("ready", flush=True)
    sys.stdin.readline()
    _run_tasks(ids, model.pk, args.task_size)


def _vector_agreement(encoder: Any, tensors: Any, artwork_ids: list[int], model: Any) -> float:
    """Lowest cosine similarity between the vectors the pipeline stored and the bare pass's for the
    same images (the model's own preprocessing): how much the faster path changed the answer."""
    import numpy as np
    import torch

    from embeddings.encoders.clip import _autocast
    from embeddings.models import ArtworkEmbedding

    with torch.inference_mode(), _autocast(encoder.device):
        bare = encoder.model.encode_image(tensors[: len(artwork_ids)], normalize=True).float().cpu().numpy()
    stored = dict(
        ArtworkEmbedding.objects.filter(model=model, artwork_id__in=artwork_ids).values_list("artwork_id", "vector")
    )
    pipeline = np.stack([np.asarray(stored[pk], dtype=np.float32) for pk in artwork_ids])
    return round(float((pipeline * bare).sum(axis=1).min()), 5)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViT-B-32", help="open_clip architecture (random weights)")
    parser.add_argument("--n", type=int, default=512, help="images through the pipeline and the bare pass")
    parser.add_argument("--batch-size", type=int, default=32, help="images per forward pass (all three ways)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--task-size", type=int, default=64, help="artworks per embedding task (one round)")
    parser.add_argument("--naive-n", type=int, default=64, help="images through the naive loop")
    parser.add_argument("--processes", type=int, default=1, help="embedding processes sharing the device")
    parser.add_argument(
        "--without-index",
        action="store_true",
        help="drop the model's HNSW index for the run (the cost of inserting into it, measured by its absence)",
    )
    parser.add_argument(
        "--decode-processes",
        default="auto",
        help="decoding processes per embedding process (EMBED_DECODE_PROCESSES; 0: threads decode)",
    )
    parser.add_argument(
        "--decode-on-device",
        action="store_true",
        help="decode and resize cached JPEGs on the device (EMBED_DECODE_ON_DEVICE; nvjpeg on CUDA)",
    )
    parser.add_argument(
        "--pixel-cache",
        choices=["auto", "on", "off"],
        default="auto",
        help="keep resized, cropped pixels (EMBED_PIXEL_CACHE; auto: on CUDA). When on, an untimed first "
        "pass fills it (its speed printed), and the timed rounds embed again, as re-embedding does",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ["EMBED_DEVICE"] = args.device
    if args.decode_processes != "auto" and not args.child:
        os.environ["EMBED_DECODE_PROCESSES"] = args.decode_processes
    if args.decode_on_device:
        os.environ["EMBED_DECODE_ON_DEVICE"] = "1"
    if args.pixel_cache != "auto":
        os.environ["EMBED_PIXEL_CACHE"] = "1" if args.pixel_cache == "on" else "0"
    if args.child:
        _child(args)
        return {}

    from bench.environment import configure, cpu_seconds, database_backend_pid, machine, print_table

    configure()
    import torch
    from django.conf import settings

    from bench.images import ensure_artworks
    from bench.models import register_random_model
    from catalog.models import Artwork
    from embeddings.encoders.clip import _autocast
    from embeddings.encoders.per_process import get_image_encoder
    from embeddings.feeding.base import decode_threads
    from embeddings.feeding.choice import decode_processes, decodes_on_device, pixel_cache
    from embeddings.images.iiif_cache import ImageCache
    from embeddings.models import ArtworkEmbedding
    from embeddings.tasks import embed_artworks_task

    settings.EMBED_FORWARD_BATCH_SIZE = args.batch_size
    model: Any = register_random_model(f"bench-{args.model.lower()}", args.model)
    if args.without_index:
        model.drop_index()
    else:
        model.ensure_index(m=settings.HNSW_M, ef_construction=settings.HNSW_EF_CONSTRUCTION)
    artwork_ids = ensure_artworks(max(args.n, args.naive_n))
    encoder = get_image_encoder(model)  # the very encoder the task uses in this process
    device = encoder.device
    cache = ImageCache.from_settings()
    image_ids = dict(Artwork.objects.filter(pk__in=artwork_ids).values_list("pk", "image_id"))

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    # Ready-made tensors on the device, as a bare forward pass needs them (not timed). The pass
    # cycles through at most 1,024 of them: the arithmetic is the same for any image.
    started = time.perf_counter()
    ready_count = min(args.n, 1024)
    tensors = torch.stack([encoder.preprocess_image(cache.open(image_ids[pk])) for pk in artwork_ids[:ready_count]])
    tensors = tensors.to(device)
    prepare_seconds = time.perf_counter() - started

    backend = database_backend_pid()

    def bare_round(count: int) -> tuple[float, float]:
        """(seconds, CPU seconds) of a bare forward pass over ``count`` ready tensors."""
        synchronize()
        cpu, started = cpu_seconds(), time.perf_counter()
        with torch.inference_mode(), _autocast(device):
            for start in range(0, count, args.batch_size):
                offset = start % ready_count
                batch = tensors[offset : offset + min(args.batch_size, count - start)]
                encoder.model.encode_image(batch, normalize=True)
        synchronize()
        return time.perf_counter() - started, cpu_seconds() - cpu

    def pipeline_round(ids: list[int]) -> tuple[float, float]:
        """(seconds, CPU seconds with the database server's) of the task path over ``ids``."""
        cpu, started = cpu_seconds() + cpu_seconds(backend), time.perf_counter()
        _run_tasks(ids, model.pk, args.task_size)
        return time.perf_counter() - started, cpu_seconds() + cpu_seconds(backend) - cpu

    def naive_pass() -> float:
        ids = artwork_ids[: args.naive_n]
        ArtworkEmbedding.objects.filter(model=model, artwork_id__in=ids).delete()
        started = time.perf_counter()
        for pk in ids:
            image = cache.open(image_ids[pk])
            vector = encoder.encode(encoder.preprocess_image(image).unsqueeze(0))[0]
            ArtworkEmbedding.objects.update_or_create(
                artwork_id=pk, model=model, defaults={"vector": vector, "image_id": image_ids[pk]}
            )
        return len(ids) / (time.perf_counter() - started)

    # Warm up every path once (allocator, kernels, database connection).
    with torch.inference_mode(), _autocast(device):
        encoder.model.encode_image(tensors[: args.batch_size], normalize=True)
    embed_artworks_task(artwork_ids[: args.batch_size], model.pk)
    synchronize()

    ids = artwork_ids[: args.n]
    kept = pixel_cache(encoder, cache)
    first_pass = serial_read_ms = None
    if kept is not None:
        # The first embedding of each image fills the pixel cache; the rounds below embed them again.
        shutil.rmtree(kept.folder, ignore_errors=True)
        ArtworkEmbedding.objects.filter(model=model).delete()
        started = time.perf_counter()
        _run_tasks(ids, model.pk, args.task_size)
        first_pass = len(ids) / (time.perf_counter() - started)
        started = time.perf_counter()
        for pk in artwork_ids[:ready_count]:
            if kept.read(cache.path_for(image_ids[pk])) is None:
                raise SystemExit(f"the first pass kept no pixels for artwork {pk}")
        serial_read_ms = (time.perf_counter() - started) / ready_count * 1000

    load_before = os.getloadavg()[0]
    ArtworkEmbedding.objects.filter(model=model).delete()
    # Side by side: a bare pass and one task over the same number of images, in turn, so a
    # neighbour's load falls on both alike; the median of the rounds' ratios resists it best.
    bare_seconds = pipeline_seconds = bare_cpu = pipeline_cpu = 0.0
    round_ratios = []
    if args.processes > 1:
        bare_seconds, bare_cpu = bare_round(args.n)
        pipeline_seconds = args.n / _pipeline_in_processes(args, ids)
    else:
        for start in range(0, args.n, args.task_size):
            chunk = ids[start : start + args.task_size]
            seconds, cpu = bare_round(len(chunk))
            bare_seconds, bare_cpu = bare_seconds + seconds, bare_cpu + cpu
            task_seconds, cpu = pipeline_round(chunk)
            pipeline_seconds, pipeline_cpu = pipeline_seconds + task_seconds, pipeline_cpu + cpu
            round_ratios.append(seconds / task_seconds)
    stored = ArtworkEmbedding.objects.filter(model=model, artwork_id__in=ids).count()
    if stored != len(ids):
        raise SystemExit(f"pipeline stored {stored} vectors for {len(ids)} artworks")
    agreement = _vector_agreement(encoder, tensors, artwork_ids[: min(ready_count, args.batch_size)], model)
    naive = naive_pass()
    bare, pipeline = args.n / bare_seconds, args.n / pipeline_seconds

    figures: dict[str, Any] = {
        "pipeline_per_s": round(pipeline, 2),
        "bare_forward_per_s": round(bare, 2),
        "naive_per_s": round(naive, 2),
        "ratio_pipeline_to_bare": round(pipeline / bare, 3),
        "ratio_pipeline_to_naive": round(pipeline / naive, 3),
        "model": args.model,
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "batch_size": args.batch_size,
        "n": args.n,
        "task_size": args.task_size,
        "naive_n": args.naive_n,
        "processes": args.processes,
        "hnsw_index": not args.without_index,
        "min_cosine_pipeline_to_bare": agreement,
        "decode_processes": decode_processes(encoder) if args.processes == 1 else _decoders_per_process(args),
        "decode_threads": decode_threads(args.task_size, decode_processes(encoder)),
        "decode_on_device": decodes_on_device(encoder),
        "pixel_cache": kept is not None,
        # The pipeline filling the pixel cache (each image's first embedding), before the timed rounds.
        "first_pass_per_s": round(first_pass, 2) if first_pass is not None else None,
        "torch_threads": torch.get_num_threads(),
        "rounds": len(round_ratios),
        "median_round_ratio": round(statistics.median(round_ratios), 3) if round_ratios else None,
        "round_ratios": [round(ratio, 3) for ratio in round_ratios],
        # CPU seconds per image (the pipeline's include the database server's): work, not waiting.
        "bare_cpu_ms_per_image": round(bare_cpu / args.n * 1000, 2),
        "pipeline_cpu_ms_per_image": round(pipeline_cpu / args.n * 1000, 2) if pipeline_cpu else None,
        # Decoding and preprocessing one image in one thread (the bare pass's tensors): what decoding costs.
        "serial_prepare_ms_per_image": round(prepare_seconds / ready_count * 1000, 2),
        # Reading one image's kept pixels instead, in one thread.
        "serial_pixel_read_ms_per_image": round(serial_read_ms, 3) if serial_read_ms is not None else None,
        "load_average_before": round(load_before, 2),
        "machine": machine(),
    }
    print_table(
        f"Embedding {args.n} cached images, {args.model} (random weights), batch {args.batch_size}, "
        f"{figures['device']}{'' if figures['hnsw_index'] else ', without the HNSW index'}"
        f"{', pixels read from the pixel cache' if kept is not None else ''}",
        [
            ("bare encode_image, ready tensors", f"{bare:8.2f} images/s"),
            (
                "pipeline (task: decode→upsert)",
                f"{pipeline:8.2f} images/s  = {pipeline / bare:.3f} x bare  (target ≥ 0.90)",
            ),
            (
                f"naive, one at a time ({args.naive_n})",
                f"{naive:8.2f} images/s  → pipeline is {pipeline / naive:.2f} x naive",
            ),
            (
                "preparing the bare tensors",
                f"{figures['serial_prepare_ms_per_image']:8.2f} ms/image (decode + preprocess, one thread, untimed)",
            ),
            (
                "rounds (bare, then one task)",
                f"{len(round_ratios):8d}  median ratio {figures['median_round_ratio']}: {figures['round_ratios']}",
            ),
            (
                "CPU per image: bare / pipeline",
                f"{figures['bare_cpu_ms_per_image']:8.1f} / {figures['pipeline_cpu_ms_per_image']} ms",
            ),
            ("pipeline vectors vs the bare pass's", f"{agreement:8.4f} lowest cosine similarity (same images)"),
            (
                "pixel cache",
                f"on: first pass {first_pass:8.2f} images/s; reading one image's pixels {serial_read_ms:.3f} ms"
                if first_pass is not None and serial_read_ms is not None
                else "off (every image decoded)",
            ),
            ("load average (1 min) at start", f"{load_before:8.2f} on {os.cpu_count()} cores"),
        ],
    )
    if args.without_index:  # the benchmark database keeps its index between runs
        model.ensure_index(m=settings.HNSW_M, ef_construction=settings.HNSW_EF_CONSTRUCTION)
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
