# MaskWatch on a GPU host (falls back to the CPU when no GPU is visible).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HOME=/tmp \
    MASKWATCH_MODEL_DIR=/app/models/weights MASKWATCH_CAMERAS_DB=/data/cameras.db PORT=8000 WORKERS=1

WORKDIR /app
# The PyPI torch wheels for Linux x86-64 are CUDA builds: the same image runs on GPU and CPU hosts.
RUN pip install torch==2.14.1 torchvision==0.29.1
# One COPY (.dockerignore lets in only pyproject.toml, README.md, app/, models/, training/) and one RUN:
# each layer after torch's is a full copy on copy-on-write-less storage drivers such as vfs.
COPY . .
RUN pip install . && useradd --system --uid 10001 --no-create-home maskwatch \
    && mkdir /data && chown maskwatch /data  # the camera database (MASKWATCH_CAMERAS_DB); a volume there keeps it

USER maskwatch
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=4)"
# Runs with a read-only root filesystem (HOME=/tmp, a tmpfs in docker-compose.yml); the workers' Prometheus
# values meet in /tmp/metrics. On SIGTERM uvicorn stops
# accepting, answers the requests in flight (up to 30 s), then exits.
CMD ["sh", "-c", "rm -rf /tmp/metrics && mkdir /tmp/metrics && export PROMETHEUS_MULTIPROC_DIR=/tmp/metrics && exec uvicorn app.main:app --host 0.0.0.0 --port ${PORT} --workers ${WORKERS} --timeout-graceful-shutdown 30"]
