"""Decode uploads safely (sniff the format, refuse oversized images before decoding, apply EXIF orientation), and
encode the PNGs every router answers with."""
import base64
import io
import warnings

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from app.errors import APIError

# Magic bytes of the formats we take.
SIGNATURES = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"BM": "BMP"}


def sniff_format(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for magic, fmt in SIGNATURES.items() if data.startswith(magic)), None)


def _to_uint8_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.uint32)
        peak = 65535 if image.mode.startswith("I;16") or array.max() > 255 else 255
        gray = (array * 255 // peak).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode == "F":
        return np.repeat(np.clip(np.asarray(image), 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    return np.array(image.convert("RGB"))


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """JPEG/PNG/WebP/BMP bytes -> uint8 RGB (H, W, 3), EXIF orientation applied."""
    if not data:
        raise APIError(400, "empty_image", "the uploaded image is empty")
    fmt = sniff_format(data)
    if fmt is None:
        raise APIError(415, "unsupported_media_type", "not a JPEG, PNG, WebP or BMP image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = image.size
            if width * height > max_pixels:
                raise APIError(413, "image_too_large", f"{width}x{height} is over the limit of {max_pixels} pixels")
            image = ImageOps.exif_transpose(image)
            return np.ascontiguousarray(_to_uint8_rgb(image))
    except APIError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as err:
        raise APIError(400, "unreadable_image", f"cannot decode the {fmt} image: {err}") from None


def encode_png(bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise APIError(500, "encode_failed", "could not encode the annotated image")
    return buf.tobytes()


def png_base64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")
