"""The response contract. Other programs depend on these names: add fields, never rename."""
from pydantic import BaseModel, ConfigDict, Field


class FaceOut(BaseModel):
    box: list[float] = Field(description="[x1, y1, x2, y2] in pixels of the uploaded (EXIF-rotated) image")
    label: str = Field(examples=["with_mask"])
    confidence: float = Field(description="probability of `label`")
    scores: dict[str, float]
    detection_score: float = Field(description="detector score; 1.0 for boxes given in `faces`")


class ImageSize(BaseModel):
    width: int
    height: int


class Summary(BaseModel):
    faces: int
    with_mask: int
    without_mask: int
    mask_worn_incorrectly: int
    uncertain: int = Field(description="faces whose label confidence is under the uncertainty threshold")
    compliant: bool = Field(description="every face is with_mask and none is uncertain")


class ModelInfo(BaseModel):
    detector: str
    classifier: str = Field(description="the classifier's name; with a small-face classifier (faces under 24 px), "
                            "its name after a '+'")
    device: str
    backend: str = Field("torch", description="what runs the networks: torch, openvino or onnxruntime")
    precision: str = Field("fp32", description="fp32, fp16 on CUDA, or bf16 with OpenVINO")


EXAMPLE = {  # a real response (tests/fixtures/voc/images/maksssksksss145.png), one face kept
    "image": {"width": 400, "height": 226},
    "faces": [{"box": [310.03, 95.79, 333.53, 119.11], "label": "without_mask", "confidence": 0.996,
               "scores": {"with_mask": 0.0, "without_mask": 0.996, "mask_worn_incorrectly": 0.004}, "detection_score": 0.806}],
    "summary": {"faces": 1, "with_mask": 0, "without_mask": 1, "mask_worn_incorrectly": 0, "uncertain": 0, "compliant": False},
    "model": {"detector": "fcos_retinaface@9a781fa2dc50", "classifier": "mobilenet_v2@17412e9f4de5", "device": "cpu",
              "backend": "openvino", "precision": "fp32"},
    "timing_ms": {"decode": 4.67, "detect": 43.99, "classify": 7.14, "queue": 0.39, "total": 56.24},
    "batch_size": 1,
}


class ClassifyResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE]})

    image: ImageSize
    faces: list[FaceOut]
    summary: Summary
    model: ModelInfo
    timing_ms: dict[str, float] = Field(description="decode, detect, classify, queue (waiting for the model), annotate, total; "
                                                    "detect and classify are the whole batch's")
    batch_size: int = Field(1, description="images in the model batch this one ran in")
    annotated_png: str | None = Field(None, description="base64 PNG, only with annotate=true")


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": {"code": "unsupported_media_type", "message": "not a JPEG, PNG, WebP or BMP image"}}]})

    error: ErrorBody


class InfoResponse(BaseModel):
    model: ModelInfo
    runtime: dict = Field(description="the runtime plan made at start-up: device, backend, precision, model_copies, "
                          "model_process, threads, batch_size, cpu_threads")
    classes: list[str]
    version: str
    limits: dict[str, int]
    defaults: dict[str, float]


class PeopleCounts(BaseModel):
    with_mask: int
    without_mask: int
    mask_worn_incorrectly: int
    uncertain: int = Field(description="people whose frames' vote was split")
    people: int
    compliance: float | None = Field(description="with_mask / people with a label; null when nobody was counted")


class CameraState(BaseModel):
    id: str
    url: str = Field(description="credentials replaced by ***")
    fps: float = Field(description="frames analysed per second, as configured")
    transport: str
    loop: bool
    enabled: bool
    alerts: list[dict] = Field(description="its alert rules")
    source: str = Field(description="file (the cameras file, read-only) or api")
    read_only: bool
    status: str = Field(examples=["up"], description="connecting, up, reconnecting, unreachable, ended, disabled, closed (outside its "
                        "hours), stopped, or unwatched (no replica has sent its state for MASKWATCH_LEASE_S)")
    watched_by: str | None = Field(description="the replica watching it (MASKWATCH_REPLICA_NAME); null while none does")
    last_error: str | None = Field(description="the last thing that went wrong, kept once the stream is back")
    last_error_at: str | None
    frame_size: list[int] | None = Field(description="[width, height] of the stream")
    achieved_fps: float = Field(description="frames analysed per second over the last 10 s")
    lag_s: float | None = Field(description="last frame: from its arrival to the end of its analysis")
    lag_p99_s: float | None = Field(description="the same over the last 600 frames")
    last_frame_at: str | None
    frames_read: int
    frames_analysed: int
    frames_dropped: int = Field(description="frames due for analysis that could not be analysed in time")
    reconnects: int
    people_in_view: int = Field(description="tracks open now (counted when they end)")
    hours: str | None = Field(description="opening hours in MASKWATCH_TIMEZONE; null = always open")
    regions: dict = Field(description="the configured zones and lines, as POST and PATCH take them")
    stationary: list[dict] = Field(description="still faces seen for MASKWATCH_CAMERA_STATIONARY_S or longer: a poster, a "
                                   "screen; each box [x1, y1, x2, y2] in fractions of the frame, to draw an ignore zone over")
    today: PeopleCounts = Field(description="people counted since local midnight in MASKWATCH_TIMEZONE, outside ignore zones")
    zones: dict[str, PeopleCounts] = Field(description="today's people per counted zone (each person in one zone)")
    lines: dict[str, dict[str, PeopleCounts]] = Field(description="today's people per line, by direction: in, out")


class CameraList(BaseModel):
    cameras: list[CameraState]


class StatsBucket(PeopleCounts):
    start: str


class CameraStats(BaseModel):
    camera: str
    zone: str | None = Field(description="the zone counted; null = the whole frame outside ignore zones")
    since: str
    until: str
    bucket_minutes: int
    total: PeopleCounts
    series: list[StatsBucket]
    lines: dict[str, dict[str, PeopleCounts]] = Field(description="people who crossed each line in the window, by direction: in, out")
