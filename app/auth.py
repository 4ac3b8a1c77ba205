"""Optional API keys with roles: `X-API-Key: KEY` or `Authorization: Bearer KEY`, checked against sha256 digests in
constant time. A key's role says what it may do:

- viewer: camera state, stats, blurred snapshots and reports;
- classify: photo uploads (/v1/classify, /v1/annotate): store systems and kiosks;
- admin: everything (cameras added, changed or removed, unblurred snapshots, /metrics when protected).

A key given without a role is admin, as every key was before roles. /v1/info takes any key."""
import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from fastapi import Depends, Request

from app.errors import APIError
from app.settings import Settings, get_settings

ROLES = ("viewer", "classify", "admin")


@dataclass(frozen=True)
class APIKey:
    digest: str  # sha256 hex of the key; the key itself is never kept
    role: str

    @property
    def name(self) -> str:
        """What logs call the key: the first 8 characters of its digest."""
        return self.digest[:8]


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _role(text: str, where: str) -> str:
    if text not in ROLES:
        raise ValueError(f"{where}: unknown role {text!r}: one of {', '.join(ROLES)}")
    return text


def load_keys(settings: Settings) -> list[APIKey]:
    """MASKWATCH_API_KEYS entries (`KEY` or `KEY:ROLE`) and MASKWATCH_API_KEYS_FILE lines (`DIGEST` or `DIGEST ROLE`,
    '#' starts a comment). Raises ValueError for an unknown role or a line that is not a sha256 digest."""
    keys = []
    for entry in settings.api_keys:
        key, _, role = entry.rpartition(":") if ":" in entry else (entry, "", "admin")
        keys.append(APIKey(key_hash(key), _role(role, "MASKWATCH_API_KEYS")))
    if settings.api_keys_file:
        for line in Path(settings.api_keys_file).read_text().splitlines():
            digest, *role = line.split("#", 1)[0].split()[:2] or [""]
            if not digest:
                continue
            digest = digest.lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"{settings.api_keys_file}: not a sha256 hex digest: {digest[:12]}...")
            keys.append(APIKey(digest, _role(role[0] if role else "admin", str(settings.api_keys_file))))
    return keys


def presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def check_key(request: Request, keys: list[APIKey]) -> APIKey:
    """The request's key, or 401; every stored digest is compared, so timing says nothing."""
    key = presented_key(request)
    if key is None:
        raise APIError(401, "unauthorized", "an API key is required (X-API-Key or Authorization: Bearer)",
                       headers={"WWW-Authenticate": "Bearer"})
    given = key_hash(key)
    found = None
    for stored in keys:
        if hmac.compare_digest(given, stored.digest):
            found = stored
    if found is None:
        raise APIError(401, "unauthorized", "the API key is not valid", headers={"WWW-Authenticate": "Bearer"})
    return found


def check_role(request: Request, role: str | None) -> None:
    """401 without a valid key, 403 `forbidden` when its role is neither `role` nor admin (None: any role does).
    A no-op when no keys are configured (a local run). The key is kept in `request.state.key` for the audit log."""
    keys = request.app.state.keys
    request.state.key = None
    if not keys:
        return
    key = check_key(request, keys)
    request.state.key = key
    if role is not None and key.role not in (role, "admin"):
        raise APIError(403, "forbidden", f"this needs an API key with the {role} role (or admin); this key's role is {key.role}")


def require(role: str | None):
    """Route dependency: the request's key has `role` or admin (None: any valid key)."""
    def dependency(request: Request) -> None:
        check_role(request, role)
    return Depends(dependency)


def require_metrics_key(request: Request, settings: Settings = Depends(get_settings)) -> None:
    if settings.protect_metrics:
        check_role(request, "admin")


def key_name(request: Request) -> str:
    """Who made a change, for the audit log: the key's name, or `anonymous` where keys are off."""
    key = getattr(request.state, "key", None)
    return key.name if key else "anonymous"
