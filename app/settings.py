"""All service settings, read once from MASKWATCH_* environment variables; every "0 = auto" is resolved here."""
import socket
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.defaults import DETECTOR_SCALE, MAX_FACES, MIN_CONFIDENCE, SCORE_FLOOR

if TYPE_CHECKING:
    from models.plan import RuntimePlan

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "weights"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MASKWATCH_", protected_namespaces=())

    model_dir: Path = Field(DEFAULT_MODEL_DIR, description="folder with detector.pt and classifier.pt (and "
                            "classifier-small.pt and classifier-large.pt, for the faces under 24 px and from 48 px), "
                            "and the openvino/ folder "
                            "`python -m models.export` writes from them")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    max_upload_bytes: int = Field(10 * 1024 * 1024, gt=0, description="largest accepted upload")
    max_pixels: int = Field(40_000_000, gt=0, description="largest accepted width x height")
    min_confidence: float = Field(MIN_CONFIDENCE, ge=0, le=1, description="default minimum detection score")
    uncertain_below: float = Field(0.6, ge=0, le=1, description="label confidence under which a face counts as uncertain")
    max_faces: int = Field(MAX_FACES, gt=0, description="most faces returned per image")
    max_boxes: int = Field(500, gt=0, description="most boxes accepted in the `faces` field")
    detector_scale: int = Field(DETECTOR_SCALE, ge=0, description="short side (px) the detector reads images at; 0 = the "
                                "weights' own (why this default: research/results/bench/HISTORY.md, \"What made the CPU path faster\")")
    detector_score_floor: float = Field(SCORE_FLOOR, ge=0, le=1, description="detections under this score are dropped before "
                                        "NMS (a min_confidence below it acts as it)")
    backend: Literal["auto", "torch", "openvino", "onnxruntime", "openvino-ir"] = Field(
        "auto", description="what runs the networks: torch, or on a CPU OpenVINO or ONNX Runtime; openvino-ir runs the exported "
        "openvino/ folder without torch; auto = on a CPU openvino-ir when model_dir/openvino is an export of its .pt files, "
        "else the fastest installed; torch on CUDA (BENCHMARKS.md, \"The CPU pipeline\")")
    static_shapes: bool = Field(True, description="openvino-ir: run the detector compiled for the input shapes of the common "
                                "aspects (1, 4:3, 3:2, 16:9) at start-up, faster and with the same faces; false = always "
                                "its dynamic shape (BENCHMARKS.md, \"The CPU pipeline\")")
    precision: Literal["auto", "fp32", "fp16", "bf16", "int8"] = Field(
        "auto", description="auto = fp32 everywhere; int8 runs openvino-ir's int8 networks (`python -m training.qat`), "
        "faster and a little less accurate, never a default (research/results/labels/README.md); fp16 runs the "
        "classifier and the detector backbone in half precision on CUDA (ignored on CPU); bf16 is OpenVINO's inference "
        "precision on a CPU with bf16 units")
    torch_threads: int = Field(0, ge=0, description="threads running the networks (torch or OpenVINO) per copy of them; "
                               "0 = the CPUs this process may use")
    model_copies: int = Field(0, ge=0, description="openvino-ir: copies of the networks, each run by a thread of its own, "
                              "so that two images are analysed at once; 0 = 2 where the process may use 2 CPUs or more "
                              "(more images a second for twice the networks' memory: BENCHMARKS.md, \"The CPU pipeline\"); "
                              "other backends run 1")
    cpu_threads: int = Field(0, ge=0, description="threads decoding and drawing images; 0 = the CPUs this process may use")
    batch_max_size: int = Field(0, ge=0, description="most images in one model batch; 0 = 16 on CUDA, 1 on CPU "
                                "(where a padded batch is slower than the images one by one)")
    model_process: bool | None = Field(None, description="run the models in a child process with its own interpreter "
                                       "lock, so kernel launches do not queue behind HTTP and decoding; unset = on CUDA only")
    batch_max_wait_ms: float = Field(2.0, ge=0, description="how long a batch waits for more images once one is queued")
    max_in_flight: int = Field(64, gt=0, description="uploads being handled at once per process; past it, 503 with Retry-After")
    request_timeout_s: float = Field(30.0, gt=0, description="deadline for decode + model + drawing; past it, 503")
    upload_timeout_s: float = Field(30.0, gt=0, description="time allowed for the upload to arrive; past it, 408")
    api_keys: Annotated[list[str], NoDecode] = Field([], description="comma-separated API keys, each KEY:ROLE (viewer, classify "
                                                     "or admin) or a bare KEY, which is admin; empty = no authentication")
    api_keys_file: Path | None = Field(None, description="file of API keys' sha256 hex digests, one per line: DIGEST ROLE, or a "
                                       "bare DIGEST, which is admin")
    protect_metrics: bool = Field(False, description="/metrics needs an API key too (when keys are configured)")
    null_endpoint: bool = Field(False, description="serve POST /v1/null (upload parsed and decoded, no model) for benchmarks")
    log_level: str = Field("info", description="debug, info, warning or error")
    cameras_enabled: bool = Field(True, description="false: this process watches no camera; its camera routes answer from "
                                  "the database (API replicas, when other replicas watch the cameras)")
    cameras_file: Path | None = Field(None, description="YAML or TOML file of cameras (read-only through the API)")
    cameras_db: Path = Field(Path("cameras.db"), description="SQLite file keeping the cameras added through the API and "
                             "the people counted, when MASKWATCH_DATABASE_URL is unset; ':memory:' keeps nothing")
    database_url: SecretStr | None = Field(None, description="postgresql://user:password@host:port/db: "
                                     "one database shared by every replica, which then share the cameras out between them (docs/deployment.md); "
                                     "unset = the SQLite file MASKWATCH_CAMERAS_DB")
    replica_name: str = Field(default_factory=socket.gethostname, description="this replica's name in `watched_by` and the "
                              "database's leases (unset: the host name, a pod's name on Kubernetes); unique per replica")
    heartbeat_s: float = Field(5, gt=0, description="how often a replica writes its cameras' live state, renews its leases "
                               "and looks for cameras to take")
    lease_s: float = Field(15, gt=0, description="a replica that has not renewed its lease on a camera for this long (killed, "
                           "cut off) loses it to another replica")
    store_buffer: int = Field(10000, gt=0, description="counted people kept in memory while the database is away; past it, "
                              "new ones are dropped (maskwatch_store_dropped_total)")
    camera_allow_local: bool = Field(False, description="accept file:// and device:// camera URLs (files and devices of this host)")
    camera_hosts: Annotated[list[str], NoDecode] = Field([], description="comma-separated host names and networks (CIDR) "
                                                         "cameras may be on; empty = any")
    max_cameras: int = Field(16, gt=0, description="most cameras watched at once")
    camera_retention_days: float = Field(30, gt=0, description="people counts older than this are deleted")
    camera_stall_s: float = Field(10, gt=0, description="a stream that sends no frame for this long is reopened")
    camera_open_timeout_s: float = Field(10, gt=0, description="time allowed to open a stream")
    camera_backoff_max_s: float = Field(30, gt=0, description="longest wait between reconnection attempts")
    camera_track_gap_s: float = Field(3, gt=0, description="a person unseen this long has left (and is counted); a stream "
                                      "back within it keeps its people")
    camera_min_frames: int = Field(2, gt=0, description="frames a track needs to count as a person")
    alert_webhook: str | None = Field(None, pattern=r"^https?://", description="URL the cameras' alert rules POST to; unset = no alerts "
                                      "(Prometheus rules in deploy/alerts.yml work without it)")
    alert_secret: str | None = Field(None, description="shared secret: each alert is signed with HMAC-SHA256 (X-MaskWatch-Signature)")
    alert_eval_s: float = Field(15, gt=0, description="how often the alert rules are checked")
    alert_cooldown_s: float = Field(900, ge=0, description="least time between two alerts of one rule on one camera")
    public_url: str = Field("", description="this service's address as alert receivers reach it (links to snapshots)")
    camera_stationary_s: float = Field(120, gt=0, description="a face that stays still this long is listed as stationary "
                                       "(a poster, a screen: draw an ignore zone over it)")
    camera_stationary_forget_s: float = Field(300, gt=0, description="a still face back where one ended less than this "
                                              "long ago is the same face, not counted again")
    mqtt_url: SecretStr | None = Field(None, description="mqtt://[user:password@]host:port, or mqtts:// for TLS: publish "
                                       "availability, each camera's state and alerts, and Home Assistant discovery (docs/monitoring.md); "
                                       "unset = no MQTT. Never logged or answered")
    mqtt_ca: Path | None = Field(None, description="CA certificate file that signs the broker's, for mqtts:// (unset: the system's)")
    mqtt_prefix: str = Field("maskwatch", min_length=1, description="topic prefix of MaskWatch's own topics")
    mqtt_discovery_prefix: str = Field("homeassistant", min_length=1, description="Home Assistant's discovery prefix")
    mqtt_queue: int = Field(1000, gt=0, description="alerts kept while the broker is away; past it, they are dropped "
                            "(maskwatch_mqtt_messages_total{result=\"dropped\"})")
    timezone: str = Field("UTC", description="the site's IANA time zone: opening hours, and where `today` and day buckets start")
    camera_vote_share: float = Field(0.6, gt=0, le=1, description="share of a track's confidence-weighted votes its label "
                                     "needs; less is 'uncertain'")

    def runtime_plan(self) -> "RuntimePlan":
        """How the networks run on this host (`models.plan.resolve_plan`), made once by `app.main.create_app`; raises
        models.errors.BackendError, saying what to change, for settings that cannot run here."""
        from models.plan import resolve_plan  # here: the settings load in processes that never run a model

        return resolve_plan(self.device, self.backend, self.precision, self.model_dir, self.torch_threads, self.model_copies,
                            self.batch_max_size, self.model_process, self.cpu_threads)

    @field_validator("timezone")
    @classmethod
    def known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"not an IANA time zone name: {value!r} (e.g. Europe/Berlin, America/New_York, UTC)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("api_keys", "camera_hosts", mode="before")
    @classmethod
    def split_keys(cls, value):
        return [k.strip() for k in value.split(",") if k.strip()] if isinstance(value, str) else value


@lru_cache
def get_settings() -> Settings:
    return Settings()
