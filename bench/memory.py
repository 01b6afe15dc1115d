"""Memory: a web process (text tower), an embed worker (image tower) and a process holding the whole model.

    python -m bench.memory [--model ViT-B-32] [--model ViT-L-14]

Each probe is a fresh Python process that sets Django up, loads what that kind of process
loads and runs it once (one query, or one batch of eight images); it then reports its resident
set (VmRSS, after garbage collection) and its peak (VmHWM). "full" is a process that holds the
whole model, as ``create_clip`` loads it. "baseline" imports the web code without a model.
"web" encodes with the text tower's ONNX export (the default, SEARCH_ENCODER_RUNTIME=onnx) and
"web_torch" with open_clip's text tower. "web_before" and "worker_before" load the towers as
the site did before: the whole model with its weights, then one tower dropped.
Target: web ≤ 0.6 x full.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
from typing import Any

PROBES = ("baseline", "web", "web_torch", "worker", "full", "web_before", "worker_before")


def _status() -> dict[str, float]:
    values: dict[str, float] = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                values[key] = int(rest.split()[0]) / 1024
    return values


def probe(kind: str, architecture: str) -> dict[str, Any]:
    """Run in a fresh process: load what a ``kind`` process loads, use it once, measure."""
    from bench.environment import configure

    configure(migrate=False)
    from django.core.wsgi import get_wsgi_application

    from bench.images import SAMPLE_IMAGES
    from bench.models import random_checkpoint
    from embeddings.encoders.per_process import get_text_encoder
    from embeddings.encoders.types import Spec

    spec = Spec(architecture, str(random_checkpoint(architecture)))
    images = [SAMPLE_IMAGES / name for name in sorted(os.listdir(SAMPLE_IMAGES))[:8]]
    if kind in ("web", "web_torch", "baseline"):
        get_wsgi_application()  # what gunicorn imports: every view, the API, the middleware
    else:
        import embeddings.pipeline
        import embeddings.tasks  # noqa: F401
    if kind in ("web", "web_torch"):
        get_text_encoder(spec).encode(["a stormy sea at night"])
    elif kind == "worker":
        from PIL import Image

        from embeddings.encoders.per_process import get_image_encoder

        encoder = get_image_encoder(spec)
        encoder.encode_prepared([encoder.prepare(Image.open(path).convert("RGB")) for path in images])
    elif kind in ("web_before", "worker_before"):
        # How the towers were loaded before: the whole model with its weights, then one tower dropped.
        import open_clip
        import torch
        from PIL import Image

        from embeddings.encoders.clip import create_clip

        model, preprocess = create_clip(spec)
        with torch.inference_mode():
            if kind == "web_before":
                model.visual = None
                gc.collect()
                model.encode_text(open_clip.get_tokenizer(architecture)(["a stormy sea at night"]))
            else:
                for attr in ("transformer", "token_embedding", "positional_embedding", "ln_final", "text_projection"):
                    setattr(model, attr, None)
                gc.collect()
                model.encode_image(torch.stack([preprocess(Image.open(path).convert("RGB")) for path in images]))
    elif kind == "full":
        import open_clip
        import torch
        from PIL import Image

        from embeddings.encoders.clip import create_clip

        model, preprocess = create_clip(spec)
        with torch.inference_mode():
            model.encode_text(open_clip.get_tokenizer(architecture)(["a stormy sea at night"]))
            model.encode_image(torch.stack([preprocess(Image.open(path).convert("RGB")) for path in images]))
    gc.collect()
    measured = {key: round(value, 1) for key, value in _status().items()}
    return {"probe": kind, "model": architecture, "torch_imported": "torch" in sys.modules, **measured}


def measure(architecture: str) -> dict[str, Any]:
    found: dict[str, dict[str, Any]] = {}
    for kind in PROBES:
        completed = subprocess.run(
            [sys.executable, "-m", "bench.memory", "--probe", kind, "--model", architecture],
            env={**os.environ, "SEARCH_ENCODER_RUNTIME": "torch" if kind == "web_torch" else "onnx"},
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise SystemExit(f"memory probe {kind} failed:\n{completed.stderr[-3000:]}")
        found[kind] = json.loads(completed.stdout.strip().splitlines()[-1])
    full, web, worker, base = (found[kind]["VmRSS"] for kind in ("full", "web", "worker", "baseline"))
    return {
        "model": architecture,
        "web_rss_mb": web,
        "worker_rss_mb": worker,
        "full_rss_mb": full,
        "baseline_rss_mb": base,
        "ratio_web_to_full": round(web / full, 3),
        "ratio_worker_to_full": round(worker / full, 3),
        # What the model itself adds on top of the code every process imports.
        "ratio_web_to_full_above_baseline": round((web - base) / (full - base), 3),
        "ratio_worker_to_full_above_baseline": round((worker - base) / (full - base), 3),
        # The web process with open_clip's text tower instead of its ONNX export (SEARCH_ENCODER_RUNTIME=torch).
        "web_torch_rss_mb": found["web_torch"]["VmRSS"],
        "ratio_web_torch_to_full": round(found["web_torch"]["VmRSS"] / full, 3),
        "torch_imported": {kind: found[kind]["torch_imported"] for kind in PROBES},
        # Loading the whole model and dropping a tower, as before.
        "web_before_rss_mb": found["web_before"]["VmRSS"],
        "worker_before_rss_mb": found["worker_before"]["VmRSS"],
        "ratio_web_before_to_full": round(found["web_before"]["VmRSS"] / full, 3),
        "peak_mb": {kind: found[kind]["VmHWM"] for kind in PROBES},
        "rss_anon_mb": {kind: found[kind]["RssAnon"] for kind in PROBES},
        "rss_file_mb": {kind: found[kind]["RssFile"] for kind in PROBES},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="open_clip architecture (repeatable; default ViT-B-32)")
    parser.add_argument("--probe", choices=PROBES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    models = args.model or ["ViT-B-32"]
    if args.probe:
        result = probe(args.probe, models[0])
        print(json.dumps(result))
        return result

    from bench.environment import configure, machine, print_table
    from bench.models import random_checkpoint
    from embeddings.encoders.onnx_export import export_text_tower
    from embeddings.encoders.types import Spec

    configure(migrate=False)
    results = []
    for architecture in models:
        export_text_tower(Spec(architecture, str(random_checkpoint(architecture))))  # once, outside the probes
        results.append(measure(architecture))
    for result in results:
        print_table(
            f"Resident memory, {result['model']} (random weights), MB",
            [
                ("baseline (code, no model)", f"{result['baseline_rss_mb']:8.0f}"),
                (
                    "web (text tower)",
                    f"{result['web_rss_mb']:8.0f}  = {result['ratio_web_to_full']:.3f} x full  (target ≤ 0.60)",
                ),
                (
                    "web, PyTorch text tower",
                    f"{result['web_torch_rss_mb']:8.0f}  = {result['ratio_web_torch_to_full']:.3f} x full",
                ),
                (
                    "embed worker (image tower)",
                    f"{result['worker_rss_mb']:8.0f}  = {result['ratio_worker_to_full']:.3f} x full",
                ),
                ("whole model (create_clip)", f"{result['full_rss_mb']:8.0f}"),
                (
                    "before: whole model, tower dropped",
                    f"{result['web_before_rss_mb']:8.0f}  web ({result['ratio_web_before_to_full']:.3f} x full), "
                    f"{result['worker_before_rss_mb']:.0f} worker",
                ),
                (
                    "above baseline: web / full",
                    f"{result['ratio_web_to_full_above_baseline']:8.3f}  (worker / full "
                    f"{result['ratio_worker_to_full_above_baseline']:.3f})",
                ),
                (
                    "peak (VmHWM) web / worker / full",
                    " / ".join(f"{result['peak_mb'][k]:.0f}" for k in ("web", "worker", "full")),
                ),
            ],
        )
    figures = {**results[0], "models": results, "machine": machine()}
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
