"""Prometheus metrics, all prefixed maskwatch_, latencies in seconds.

With several uvicorn workers, set PROMETHEUS_MULTIPROC_DIR to an empty folder (`make run` and the image
do): every worker writes its values there and /metrics adds them up, whichever worker answers.
"""
import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
REGISTRY = CollectorRegistry()
# 1 ms to 10 s
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)

REQUEST_LATENCY = Histogram("maskwatch_request_duration_seconds", "HTTP request latency",
                            ["route", "method", "status_class"], buckets=BUCKETS, registry=REGISTRY)
STAGE_LATENCY = Histogram("maskwatch_stage_duration_seconds", "Latency of one processing stage",
                          ["stage"], buckets=BUCKETS, registry=REGISTRY)
BATCH_SIZE = Histogram("maskwatch_batch_size", "Images per model batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128),
                       registry=REGISTRY)
IN_FLIGHT = Gauge("maskwatch_requests_in_flight", "Requests being served", registry=REGISTRY,
                  multiprocess_mode="livesum")
ADMITTED = Gauge("maskwatch_uploads_in_progress", "Uploads admitted and not yet answered (bounded by max_in_flight)",
                 registry=REGISTRY, multiprocess_mode="livesum")
IMAGES = Counter("maskwatch_images_processed_total", "Images classified", registry=REGISTRY)
FACES = Counter("maskwatch_faces_total", "Faces returned, by label", ["label"], registry=REGISTRY)
ERRORS = Counter("maskwatch_errors_total", "Error responses, by error code", ["code"], registry=REGISTRY)
# A gauge of 1 rather than an Info: Info does not work across processes.
MODEL = Gauge("maskwatch_model_info", "Loaded models and device", ["detector", "classifier", "device", "backend", "precision"],
              registry=REGISTRY, multiprocess_mode="max")


def exposition() -> bytes:
    """The text /metrics serves: this process's registry, or every worker's values added up."""
    if not MULTIPROCESS:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def process_exited() -> None:
    """Drop this worker's live gauges (in-flight counts) from the shared folder."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())
