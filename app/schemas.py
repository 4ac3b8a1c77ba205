"""The response contract. Other programs depend on these names: add fields, never rename."""
from pydantic import BaseModel, Field


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
    classifier: str
    device: str


class ClassifyResponse(BaseModel):
    image: ImageSize
    faces: list[FaceOut]
    summary: Summary
    model: ModelInfo
    timing_ms: dict[str, float]
    annotated_png: str | None = Field(None, description="base64 PNG, only with annotate=true")


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class InfoResponse(BaseModel):
    model: ModelInfo
    classes: list[str]
    version: str
    limits: dict[str, int]
    defaults: dict[str, float]
