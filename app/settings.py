"""All service settings, read once from MASKWATCH_* environment variables."""
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "weights"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MASKWATCH_", protected_namespaces=())

    model_dir: Path = Field(DEFAULT_MODEL_DIR, description="folder with detector.pt and classifier.pt")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    max_upload_bytes: int = Field(10 * 1024 * 1024, gt=0, description="largest accepted upload")
    max_pixels: int = Field(40_000_000, gt=0, description="largest accepted width x height")
    min_confidence: float = Field(0.3, ge=0, le=1, description="default minimum detection score")
    uncertain_below: float = Field(0.6, ge=0, le=1, description="label confidence under which a face counts as uncertain")
    max_faces: int = Field(100, gt=0, description="most faces returned per image")
    max_boxes: int = Field(500, gt=0, description="most boxes accepted in the `faces` field")
    log_level: str = Field("info", description="debug, info, warning or error")


@lru_cache
def get_settings() -> Settings:
    return Settings()
