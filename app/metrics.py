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
READY = Gauge("maskwatch_ready", "1 once the models are loaded (what /readyz says)", registry=REGISTRY, multiprocess_mode="livemin")
# A gauge of 1 rather than an Info: Info does not work across processes.
MODEL = Gauge("maskwatch_model_info", "Loaded models and device", ["detector", "classifier", "device", "backend", "precision"],
              registry=REGISTRY, multiprocess_mode="max")

# Cameras: labelled by camera id, label and the configured zones and lines only (never made up from data), so the
# series stay as few as the cameras' configuration.
CAMERA_UP = Gauge("maskwatch_camera_up", "1 while the camera's stream delivers frames", ["camera"], registry=REGISTRY,
                  multiprocess_mode="livemax")
CAMERA_FPS = Gauge("maskwatch_camera_fps", "Frames analysed per second over the last 10 s", ["camera"], registry=REGISTRY,
                   multiprocess_mode="livemax")
CAMERA_LAG = Histogram("maskwatch_camera_lag_seconds", "Time from a camera frame's arrival to the end of its analysis", ["camera"],
                       buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0), registry=REGISTRY)
CAMERA_FRAMES = Counter("maskwatch_camera_frames_analysed_total", "Camera frames analysed", ["camera"], registry=REGISTRY)
CAMERA_DROPPED = Counter("maskwatch_camera_frames_dropped_total", "Camera frames due for analysis but dropped (no capacity in time)",
                         ["camera"], registry=REGISTRY)
CAMERA_RECONNECTS = Counter("maskwatch_camera_reconnects_total", "Times a camera's stream was reopened", ["camera"], registry=REGISTRY)
CAMERA_PEOPLE = Counter("maskwatch_camera_people_total", "People counted (one per track), by label and zone (\"\" outside "
                        "every counted zone)", ["camera", "label", "zone"], registry=REGISTRY)
CAMERA_CROSSINGS = Counter("maskwatch_camera_line_crossings_total", "People who crossed a line, by direction (in, out) and label",
                           ["camera", "line", "direction", "label"], registry=REGISTRY)
ALERTS = Counter("maskwatch_alerts_total", "Webhook alerts: delivered, retried, failed (after every retry), dropped (queue full)",
                 ["result"], registry=REGISTRY)
STORE_UP = Gauge("maskwatch_store_up", "1 while the database answers (SQLite or PostgreSQL)", registry=REGISTRY,
                 multiprocess_mode="livemin")
STORE_PENDING = Gauge("maskwatch_store_pending", "Counted people waiting to be written to the database", registry=REGISTRY,
                      multiprocess_mode="livesum")
STORE_DROPPED = Counter("maskwatch_store_dropped_total", "Counted people dropped: the database was away and the buffer full "
                        "(MASKWATCH_STORE_BUFFER)", registry=REGISTRY)
CAMERAS_WATCHED = Gauge("maskwatch_cameras_watched", "Cameras this replica watches (its leases)", registry=REGISTRY,
                        multiprocess_mode="livesum")
MQTT_CONNECTED = Gauge("maskwatch_mqtt_connected", "1 while connected to the MQTT broker (MASKWATCH_MQTT_URL)", registry=REGISTRY,
                       multiprocess_mode="livemax")
MQTT_MESSAGES = Counter("maskwatch_mqtt_messages_total", "MQTT messages: published, or dropped (the broker away and the queue full)",
                        ["result"], registry=REGISTRY)
CAMERA_SERIES = (CAMERA_UP, CAMERA_FPS, CAMERA_LAG, CAMERA_FRAMES, CAMERA_DROPPED, CAMERA_RECONNECTS)


def forget_camera(camera: str) -> None:
    """Drop a deleted camera's series, its zones' and lines' too (in this process; with several workers the shared
    files keep them)."""
    for series in (*CAMERA_SERIES, CAMERA_PEOPLE, CAMERA_CROSSINGS):
        series.remove_by_labels({"camera": camera})


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
