"""Decoding and resizing on the device, against the decoding processes' PIL path.

    python -m bench.gpu_decode [--device cuda] [--n 4096] [--batch-size 256]

What bounds ViT-B-32 on one GPU is decoding on the CPU (``bench.embed`` on a GPU machine): a JPEG
decoded, resized (bicubic, antialiased) and cropped by PIL costs milliseconds of CPU, most of it
the resize, while the GPU runs the image tower far faster. This measures the alternative
before the pipeline takes it: ``torchvision.io.decode_jpeg`` on the device (nvjpeg on CUDA) and
torch's antialiased bicubic resize, on the bundled sample's real images:
- agreement: the crops' pixels against the PIL path the pipeline uses (``ResizeCrop``), per image;
- throughput and CPU per image: batched decoding, resizing, both, and both from 2 and 4 threads,
  beside the PIL path in one thread.
No Django and no database: it needs torch, torchvision and Pillow.
"""

from __future__ import annotations

import argparse
import io
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image

from bench.images import SAMPLE_IMAGES
from embeddings.images.decoding import ResizeCrop, prepare_file
from embeddings.images.device_decoding import EncodedJpeg, decode_on_device, device_jpeg, resize_crop

# ViT-B-32's preprocessing (open_clip): the shorter side to 224 (bicubic), then the centre 224 x 224.
RECIPE = ResizeCrop(size=(224,), interpolation=int(Image.Resampling.BICUBIC), crop=(224, 224))
MAX_PIXELS = 100_000_000


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--n", type=int, default=4096, help="images per timed pass (the sample, repeated)")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    files = sorted(SAMPLE_IMAGES.glob("*.jpg"))
    datas = [path.read_bytes() for path in files]
    jpegs = [jpeg for jpeg in (device_jpeg(data, MAX_PIXELS) for data in datas) if isinstance(jpeg, EncodedJpeg)]
    if len(jpegs) != len(datas):
        raise SystemExit(f"{len(datas) - len(jpegs)} sample images are not plain JPEGs")

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    # Agreement with the pipeline's PIL path, image by image.
    decoded = decode_on_device(jpegs, device)
    decode_mean, crop_mean, exact, worst, largest = [], [], [], 0.0, 0
    for data, image in zip(datas, decoded, strict=True):
        if image is None:
            raise SystemExit("the device's decoder refused a sample image")
        full = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.int16)
        decode_mean.append(float(np.abs(image.permute(1, 2, 0).cpu().numpy().astype(np.int16) - full).mean()))
        reference = np.asarray(prepare_file(data, MAX_PIXELS, None, RECIPE)).astype(np.int16)
        mine = resize_crop(image, RECIPE).permute(1, 2, 0).cpu().numpy().astype(np.int16)
        difference = np.abs(mine - reference)
        crop_mean.append(float(difference.mean()))
        exact.append(float((difference == 0).mean()))
        worst, largest = max(worst, crop_mean[-1]), max(largest, int(difference.max()))

    pool = [jpegs[index % len(jpegs)] for index in range(args.n)]
    pool_images = [image for image in (decoded[index % len(decoded)] for index in range(args.n)) if image is not None]

    def timed(work: Callable[[], object], count: int = args.n) -> dict[str, float]:
        work()  # warm-up: kernels, nvjpeg's buffers
        synchronize()
        cpu, started = time.process_time(), time.perf_counter()
        work()
        synchronize()
        seconds = time.perf_counter() - started
        return {
            "per_s": round(count / seconds, 1),
            "cpu_ms_per_image": round((time.process_time() - cpu) / count * 1e3, 3),
        }

    def decode_all() -> None:
        for start in range(0, args.n, args.batch_size):
            decode_on_device(pool[start : start + args.batch_size], device)

    def resize_all() -> None:
        for image in pool_images:
            resize_crop(image, RECIPE)

    def both(part: int = 0, parts: int = 1) -> None:
        for start in range(part * args.batch_size, args.n, args.batch_size * parts):
            images = decode_on_device(pool[start : start + args.batch_size], device)
            torch.stack([resize_crop(image, RECIPE) for image in images if image is not None])

    def in_threads(parts: int) -> Callable[[], None]:
        def run() -> None:
            threads = [threading.Thread(target=both, args=(part, parts)) for part in range(parts)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        return run

    pil_count = len(datas) * max(1, args.n // (4 * len(datas)))
    figures: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "images": len(datas),
        "decode_mean_abs_vs_pil": round(float(np.mean(decode_mean)), 4),
        "crop_mean_abs_vs_pil": round(float(np.mean(crop_mean)), 4),
        "crop_worst_image_mean_abs": round(worst, 4),
        "crop_exact_fraction": round(float(np.mean(exact)), 4),
        "crop_max_abs": largest,
        "decode": timed(decode_all),
        "resize_crop": timed(resize_all),
        "decode_resize_crop": timed(both),
        "decode_resize_crop_2_threads": timed(in_threads(2)),
        "decode_resize_crop_4_threads": timed(in_threads(4)),
        "pil_one_thread": timed(
            lambda: [prepare_file(data, MAX_PIXELS, None, RECIPE) for data in datas * (pil_count // len(datas))],
            pil_count,
        ),
    }
    print(f"Decoding {len(datas)} sample JPEGs on {figures['device']} (torch {figures['torch']})")
    print(
        f"  pixels against PIL: decoded {figures['decode_mean_abs_vs_pil']} mean |Δ|; 224-px crops "
        f"{figures['crop_mean_abs_vs_pil']} mean |Δ| (worst image {worst:.3f}), "
        f"{figures['crop_exact_fraction']:.1%} equal, largest {largest}"
    )
    for key in ("decode", "resize_crop", "decode_resize_crop", "decode_resize_crop_2_threads",
                "decode_resize_crop_4_threads", "pil_one_thread"):  # fmt: skip
        print(f"  {key:32s} {figures[key]['per_s']:10.1f} images/s  {figures[key]['cpu_ms_per_image']:.3f} ms CPU each")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
