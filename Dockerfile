# Two images from one file (docs/deployment.md):
#   docker build --target web -t museum-search-web .        gunicorn, migrate, beat: ONNX Runtime, no PyTorch
#   docker build --target worker -t museum-search-worker .  Celery workers: PyTorch with CUDA
# The base is pinned by digest (the tag beside it says which); move both together.

FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b AS base
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
# A fixed uid, so that files on volumes and secrets on the host can be given to it (docs/deployment.md).
RUN groupadd --system --gid 10001 museum \
 && useradd --system --uid 10001 --gid museum --home-dir /app --no-create-home --shell /usr/sbin/nologin museum
WORKDIR /app

# --- Builders: the virtual environments, each from its requirements file only ---------------------------

FROM base AS web-deps
COPY requirements-web.txt ./
RUN python -m venv /opt/venv && pip install -r requirements-web.txt

FROM web-deps AS worker-deps
# PyPI's torch for Linux x86-64 is a CUDA build whose CUDA libraries come as wheels: the container needs
# only the host's driver (NVIDIA Container Toolkit), no CUDA base image. A host whose driver is too old for
# that CUDA takes an older build from PyTorch's index, e.g. TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
# (or .../whl/cpu for CPU-only workers); the versions stay those pinned in requirements.txt.
ARG TORCH_INDEX_URL=
COPY requirements.txt ./
RUN if [ -n "$TORCH_INDEX_URL" ]; then \
      pip install --index-url "$TORCH_INDEX_URL" $(grep -E '^(torch|torchvision)==' requirements.txt); \
    fi \
 && pip install -r requirements.txt

# The static files, collected once for both images. The settings read no database for collectstatic,
# and the key they insist on signs nothing here.
FROM web-deps AS static
COPY . .
RUN SECRET_KEY=build python manage.py collectstatic --noinput

# --- Final images: the code owned by root and read-only to the site's user ------------------------------

FROM base AS web
COPY --from=web-deps /opt/venv /opt/venv
COPY . .
COPY --from=static /app/var/static /app/var/static
# /data: the named volume of image and model caches takes this folder's owner when first created.
RUN install -d -o museum -g museum /data
ENV CELERY_HEARTBEAT_FILE=/tmp/celery-heartbeat
USER museum
EXPOSE 8000
# /livez: the process answers (a database or Redis outage is not this container's fault).
HEALTHCHECK --interval=10s --timeout=6s --start-period=60s --retries=3 \
    CMD ["python", "-m", "museum_site.container_health", "web"]
CMD ["gunicorn", "museum_site.wsgi:application", "--config", "python:museum_site.gunicorn_config", \
     "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4"]

FROM base AS worker
COPY --from=worker-deps /opt/venv /opt/venv
COPY . .
COPY --from=static /app/var/static /app/var/static
RUN install -d -o museum -g museum /data
ENV CELERY_HEARTBEAT_FILE=/tmp/celery-heartbeat
USER museum
# The worker's main loop touches CELERY_HEARTBEAT_FILE at each event heartbeat (museum_site/celery.py):
# a stale file means a hung loop or a lost broker, while a long task in a child process still counts as alive.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-m", "museum_site.container_health", "celery"]
CMD ["celery", "-A", "museum_site", "worker", "-Q", "embed", "-c", "1", "-l", "INFO"]
