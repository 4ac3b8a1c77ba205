"""Optional API keys: `X-API-Key: KEY` or `Authorization: Bearer KEY`, checked against sha256 hashes in constant time."""
import hashlib
import hmac
from pathlib import Path

from fastapi import Depends, Request

from app.errors import APIError
from app.settings import Settings, get_settings


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def load_key_hashes(settings: Settings) -> list[str]:
    """Hashes of the keys in MASKWATCH_API_KEYS plus the sha256 lines of MASKWATCH_API_KEYS_FILE ('#' starts a comment)."""
    hashes = [key_hash(k) for k in settings.api_keys]
    if settings.api_keys_file:
        for line in Path(settings.api_keys_file).read_text().splitlines():
            line = line.split("#", 1)[0].strip().lower()
            if line:
                if len(line) != 64 or any(c not in "0123456789abcdef" for c in line):
                    raise ValueError(f"{settings.api_keys_file}: not a sha256 hex digest: {line[:12]}...")
                hashes.append(line)
    return hashes


def presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def check_key(request: Request, hashes: list[str]) -> None:
    """401 unless the request carries one of the keys; every stored hash is compared, so timing says nothing."""
    key = presented_key(request)
    if key is None:
        raise APIError(401, "unauthorized", "an API key is required (X-API-Key or Authorization: Bearer)",
                       headers={"WWW-Authenticate": "Bearer"})
    given = key_hash(key)
    matched = False
    for stored in hashes:
        matched |= hmac.compare_digest(given, stored)
    if not matched:
        raise APIError(401, "unauthorized", "the API key is not valid", headers={"WWW-Authenticate": "Bearer"})


def require_api_key(request: Request) -> None:
    """Route dependency: a no-op when no keys are configured (a local run)."""
    hashes = request.app.state.key_hashes
    if hashes:
        check_key(request, hashes)


def require_metrics_key(request: Request, settings: Settings = Depends(get_settings)) -> None:
    if settings.protect_metrics and request.app.state.key_hashes:
        check_key(request, request.app.state.key_hashes)
