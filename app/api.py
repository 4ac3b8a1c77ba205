"""The routes: /v1/classify, /v1/annotate, /v1/info, /healthz, /readyz, /metrics."""
import json
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app import __version__, metrics
from app.errors import APIError
from app.schemas import ClassifyResponse, ErrorResponse, InfoResponse
from app.service import Service, encode_png, png_base64
from app.settings import Settings, get_settings
from models.labels import CLASSES

router = APIRouter()
ERRORS = {code: {"model": ErrorResponse} for code in (400, 413, 415, 422, 503)}
FACES_HELP = "optional JSON [[x1, y1, x2, y2], ...] in pixels: classify exactly these boxes, skip detection"


def get_service(request: Request) -> Service:
    service = getattr(request.app.state, "service", None)
    if service is None:
        raise APIError(503, "not_ready", "models are still loading")
    return service


def parse_faces(faces: str | None, settings: Settings) -> list | None:
    if faces is None:
        return None
    try:
        boxes = json.loads(faces)
    except ValueError:
        raise APIError(422, "invalid_faces", "faces must be JSON: [[x1, y1, x2, y2], ...]") from None
    if not isinstance(boxes, list):
        raise APIError(422, "invalid_faces", "faces must be a JSON list of [x1, y1, x2, y2]")
    if len(boxes) > settings.max_boxes:
        raise APIError(422, "too_many_faces", f"faces has {len(boxes)} boxes; the limit is {settings.max_boxes}")
    for i, box in enumerate(boxes):
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)):
            raise APIError(422, "invalid_faces", f"faces[{i}] must be [x1, y1, x2, y2] numbers")
    return boxes


async def process(image: UploadFile, faces: str | None, min_confidence: float | None, annotate: bool,
                  service: Service, settings: Settings):
    data = await image.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise APIError(413, "upload_too_large", f"the image is over the limit of {settings.max_upload_bytes} bytes")
    return await run_in_threadpool(service.run, data, parse_faces(faces, settings), min_confidence, annotate)


ImageField = Annotated[UploadFile, File(description="JPEG, PNG, WebP or BMP; EXIF orientation is applied")]
FacesField = Annotated[str | None, Form(description=FACES_HELP, examples=["[[10, 20, 60, 80]]"])]
MinConfidence = Annotated[float | None, Query(ge=0, le=1, description="drop faces whose detection score is below this")]


@router.post("/v1/classify", response_model=ClassifyResponse, responses=ERRORS, response_model_exclude_none=True)
async def classify(image: ImageField, faces: FacesField = None, min_confidence: MinConfidence = None,
                   annotate: Annotated[bool, Query(description="include annotated_png (base64)")] = False,
                   service: Service = Depends(get_service), settings: Settings = Depends(get_settings)):
    """Find every face (or take the given `faces`) and label it with_mask, without_mask or mask_worn_incorrectly."""
    body, canvas = await process(image, faces, min_confidence, annotate, service, settings)
    if canvas is not None:
        body["annotated_png"] = png_base64(canvas)
    return body


@router.post("/v1/annotate", response_class=Response, responses={200: {"content": {"image/png": {}}}, **ERRORS})
async def annotate_image(image: ImageField, faces: FacesField = None, min_confidence: MinConfidence = None,
                         service: Service = Depends(get_service), settings: Settings = Depends(get_settings)):
    """The uploaded image with coloured boxes: green with mask, red without, orange worn incorrectly."""
    _, canvas = await process(image, faces, min_confidence, True, service, settings)
    return Response(encode_png(canvas), media_type="image/png")


@router.get("/v1/info", response_model=InfoResponse, responses={503: {"model": ErrorResponse}})
def info(service: Service = Depends(get_service), settings: Settings = Depends(get_settings)):
    """Model names and versions, classes, device and limits."""
    return {"model": service.model_info, "classes": list(CLASSES), "version": __version__,
            "limits": {"max_upload_bytes": settings.max_upload_bytes, "max_pixels": settings.max_pixels,
                       "max_faces": settings.max_faces, "max_boxes": settings.max_boxes},
            "defaults": {"min_confidence": settings.min_confidence, "uncertain_below": settings.uncertain_below}}


@router.get("/healthz")
def healthz():
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": ErrorResponse}})
def readyz(request: Request):
    """200 once the models are loaded, 503 before."""
    get_service(request)
    return {"status": "ready"}


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics():
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
