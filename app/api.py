"""The routes: /v1/classify, /v1/annotate, /v1/info, /healthz, /readyz, /metrics, the try-it page at /
(and /v1/null for benchmarks)."""
import asyncio
import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app import __version__, metrics
from app.auth import require, require_metrics_key
from app.errors import APIError
from app.imaging import decode_image, png_base64
from app.schemas import ClassifyResponse, ErrorResponse, InfoResponse
from app.service import Service
from app.settings import Settings, get_settings
from models.labels import CLASSES

router = APIRouter()
v1 = APIRouter(prefix="/v1")
ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 408, 413, 415, 422, 503)}
PAGE = (Path(__file__).parent / "static" / "index.html").read_text()  # plain HTML + JS calling the public API
FACES_HELP = "optional JSON [[x1, y1, x2, y2], ...] in pixels: classify exactly these boxes, skip detection"


def get_service(request: Request) -> Service:
    service = getattr(request.app.state, "service", None)
    if service is None:
        failed = request.app.state.load_error
        raise APIError(503, "not_ready", f"the models failed to load: {failed}" if failed else "models are still loading")
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


async def read_upload(image: UploadFile, settings: Settings) -> bytes:
    data = await image.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise APIError(413, "upload_too_large", f"the image is over the limit of {settings.max_upload_bytes} bytes")
    return data


async def process(image: UploadFile, faces: str | None, min_confidence: float | None, annotate: bool,
                  service: Service, settings: Settings, blur: bool = False):
    data = await read_upload(image, settings)
    try:
        async with asyncio.timeout(settings.request_timeout_s):
            return await service.run(data, parse_faces(faces, settings), min_confidence, annotate, blur)
    except TimeoutError:
        raise APIError(503, "deadline_exceeded", f"the image was not processed within {settings.request_timeout_s:g} s",
                       headers={"Retry-After": "1"}) from None


ImageField = Annotated[UploadFile, File(description="JPEG, PNG, WebP or BMP; EXIF orientation is applied")]
FacesField = Annotated[str | None, Form(description=FACES_HELP, examples=["[[10, 20, 60, 80]]"])]
MinConfidence = Annotated[float | None, Query(ge=0, le=1, description="drop faces whose detection score is below this")]
Blur = Annotated[bool, Query(description="blur every returned face in the annotated image (boxes and labels still drawn)")]


@v1.post("/classify", response_model=ClassifyResponse, responses=ERRORS, response_model_exclude_none=True, dependencies=[require("classify")])
async def classify(image: ImageField, faces: FacesField = None, min_confidence: MinConfidence = None,
                   annotate: Annotated[bool, Query(description="include annotated_png (base64)")] = False, blur: Blur = False,
                   service: Service = Depends(get_service), settings: Settings = Depends(get_settings)):
    """Find every face (or take the given `faces`) and label it with_mask, without_mask or mask_worn_incorrectly.
    With `annotate`, the annotated image comes too; `blur` blurs the faces in it."""
    body, png = await process(image, faces, min_confidence, annotate, service, settings, blur)
    if png is not None:
        body["annotated_png"] = png_base64(png)
    return body


@v1.post("/annotate", response_class=Response, responses={200: {"content": {"image/png": {}}}, **ERRORS}, dependencies=[require("classify")])
async def annotate_image(image: ImageField, faces: FacesField = None, min_confidence: MinConfidence = None, blur: Blur = False,
                         service: Service = Depends(get_service), settings: Settings = Depends(get_settings)):
    """The uploaded image with coloured boxes: green with mask, red without, orange worn incorrectly; `blur` blurs the faces."""
    _, png = await process(image, faces, min_confidence, True, service, settings, blur)
    return Response(png, media_type="image/png")


@v1.post("/null", include_in_schema=False, dependencies=[require("classify")])
async def null(request: Request, image: ImageField, settings: Settings = Depends(get_settings)):
    """The upload and decode path of /v1/classify without the model: the HTTP baseline for benchmarks."""
    if not settings.null_endpoint:
        raise APIError(404, "not_found", "Not Found")
    data = await read_upload(image, settings)
    rgb = await asyncio.get_running_loop().run_in_executor(request.app.state.cpu_pool, decode_image, data, settings.max_pixels)
    return {"image": {"width": rgb.shape[1], "height": rgb.shape[0]}, "faces": []}


@v1.get("/info", response_model=InfoResponse, responses={code: {"model": ErrorResponse} for code in (401, 503)}, dependencies=[require(None)])
def info(request: Request, service: Service = Depends(get_service), settings: Settings = Depends(get_settings)):
    """Model names and versions, classes, the runtime plan (device, backend, precision, copies, threads, batch size) and limits."""
    return {"model": service.model_info, "runtime": asdict(request.app.state.plan), "classes": list(CLASSES), "version": __version__,
            "limits": {"max_upload_bytes": settings.max_upload_bytes, "max_pixels": settings.max_pixels,
                       "max_faces": settings.max_faces, "max_boxes": settings.max_boxes},
            "defaults": {"min_confidence": settings.min_confidence, "uncertain_below": settings.uncertain_below}}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page():
    """A page to try MaskWatch in a browser: pick an image, see the annotated image and its faces."""
    return PAGE


@router.get("/healthz")
async def healthz():  # async: answered on the event loop, never queued behind busy threads
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": ErrorResponse}})
async def readyz(request: Request):
    """200 once the models are loaded, 503 before. `store` says whether the database answers: photos are served
    without it, so it does not make the replica unready."""
    get_service(request)
    error = request.app.state.cameras.store_error
    return {"status": "ready", "store": "ok" if error is None else "unreachable", "store_error": error}


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(require_metrics_key)])
async def prometheus_metrics():
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


router.include_router(v1)
