"""Search by image: encoding an uploaded picture with the image tower's ONNX export and with open_clip's.

    python -m bench.image_query [--model museum-tiny] [--model ViT-B-32] [--images 40]

For each architecture (seeded random weights: the arithmetic is the trained model's), the image
tower is exported to ONNX as registration exports it, then both encoders a web process may hold run
in this one process: ``OnnxImageEncoder`` (SEARCH_ENCODER_RUNTIME=onnx: PIL and numpy preprocessing,
ONNX Runtime) and open_clip's ``ImageEncoder`` (torchvision preprocessing, PyTorch on the CPU). Each
sample picture is decoded as an upload is (``decode_image`` with the model's draft size and
``reduce``), outside the timing; what is timed is what ``search.image_query.embed_image`` runs, one
picture: preprocess and forward pass. The two sides alternate picture by picture, so a busy
neighbour slows both alike. Also reported: the largest difference between the two sides' vectors.
No database is needed.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

from bench.environment import BENCH_DIR, MODEL_CONFIG_DIR, machine, paired_figures, paired_times, print_table


def _setup() -> None:
    """Django settings for this process alone (no database is opened), weights under var/bench."""
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "museum_site.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DATABASE_URL", "postgresql://bench@127.0.0.1:1/unused")
    os.environ["MODEL_CACHE_DIR"] = str(BENCH_DIR / "models")
    os.environ["CLIP_MODEL_CONFIG_DIRS"] = str(MODEL_CONFIG_DIR)
    import django

    django.setup()


def measure(architecture: str, count: int) -> dict[str, Any]:
    import torch
    from django.conf import settings

    from bench.images import SAMPLE_IMAGES
    from bench.models import random_checkpoint
    from embeddings.encoders.clip import ImageEncoder
    from embeddings.encoders.image_onnx import OnnxImageEncoder, find_image_export
    from embeddings.encoders.onnx_export import export_image_tower
    from embeddings.encoders.types import Spec
    from embeddings.images.decoding import decode_image

    spec = Spec(architecture, str(random_checkpoint(architecture)))
    exported_before = find_image_export(spec) is not None
    started = time.perf_counter()
    export = export_image_tower(spec)
    export_seconds = None if exported_before else round(time.perf_counter() - started, 1)
    onnx = OnnxImageEncoder(export)
    pytorch = ImageEncoder(spec, torch.device("cpu"))
    paths = sorted(SAMPLE_IMAGES.glob("*.jpg"))[:count]
    images = [
        decode_image(path.read_bytes(), int(settings.IMAGE_MAX_PIXELS), onnx.draft_size, reduce=True) for path in paths
    ]
    difference = max(
        float(np.abs(onnx.encode_images([image]) - pytorch.encode_images([image])).max()) for image in images[:8]
    )
    torch_ms, onnx_ms = paired_times(images, lambda encoder, image: encoder.encode_images([image]), pytorch, onnx, 5)
    figures = paired_figures(torch_ms, onnx_ms)
    return {
        "architecture": architecture,
        "image_size": list(export.resize_crop.crop),
        "pictures": len(images),
        "export_seconds": export_seconds,
        "largest_vector_difference": difference,
        "torch_threads": torch.get_num_threads(),
        "pytorch_p50_ms": figures["other_p50_ms"],
        "pytorch_p95_ms": round(float(np.percentile(torch_ms, 95)), 2),
        "onnx_p50_ms": figures["this_p50_ms"],
        "onnx_p95_ms": round(float(np.percentile(onnx_ms, 95)), 2),
        "onnx_over_pytorch_p50": figures["ratio"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="architecture (repeatable; default museum-tiny, ViT-B-32)")
    parser.add_argument("--images", type=int, default=40, help="sample pictures per architecture")
    args = parser.parse_args()
    _setup()
    results = [measure(architecture, args.images) for architecture in args.model or ["museum-tiny", "ViT-B-32"]]
    for result in results:
        print_table(
            f"{result['architecture']} ({result['image_size'][0]} px), one picture per query",
            [
                ("PyTorch p50 / p95", f"{result['pytorch_p50_ms']} / {result['pytorch_p95_ms']} ms"),
                ("ONNX Runtime p50 / p95", f"{result['onnx_p50_ms']} / {result['onnx_p95_ms']} ms"),
                ("ONNX / PyTorch (p50)", str(result["onnx_over_pytorch_p50"])),
                ("largest vector difference", f"{result['largest_vector_difference']:.1e}"),
                ("export and check", f"{result['export_seconds']} s" if result["export_seconds"] else "made before"),
            ],
        )
    print(json.dumps({"machine": machine(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
