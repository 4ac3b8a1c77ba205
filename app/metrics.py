"""Prometheus metrics, all prefixed maskwatch_, latencies in seconds."""
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

REGISTRY = CollectorRegistry()
# 1 ms to 10 s
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)

REQUEST_LATENCY = Histogram("maskwatch_request_duration_seconds", "HTTP request latency",
                            ["route", "method", "status_class"], buckets=BUCKETS, registry=REGISTRY)
STAGE_LATENCY = Histogram("maskwatch_stage_duration_seconds", "Latency of one processing stage",
                          ["stage"], buckets=BUCKETS, registry=REGISTRY)
BATCH_SIZE = Histogram("maskwatch_batch_size", "Images per model batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128),
                       registry=REGISTRY)
IN_FLIGHT = Gauge("maskwatch_requests_in_flight", "Requests being served", registry=REGISTRY)
ADMITTED = Gauge("maskwatch_uploads_in_progress", "Uploads admitted and not yet answered (bounded by max_in_flight)",
                 registry=REGISTRY)
IMAGES = Counter("maskwatch_images_processed_total", "Images classified", registry=REGISTRY)
FACES = Counter("maskwatch_faces_total", "Faces returned, by label", ["label"], registry=REGISTRY)
ERRORS = Counter("maskwatch_errors_total", "Error responses, by error code", ["code"], registry=REGISTRY)
MODEL = Info("maskwatch_model", "Loaded models and device", registry=REGISTRY)
