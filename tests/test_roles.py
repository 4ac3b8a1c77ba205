"""Every route against every role: a table names the role each route needs, and a route missing from it fails the
first test, so no new route ships without one. Keys with roles from the environment and the keys file, and the
audit log of admin changes."""
import hashlib
import json
import logging

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

PUBLIC, ANY = "public", "any key"
ROUTES = {
    ("GET", "/"): PUBLIC, ("GET", "/healthz"): PUBLIC, ("GET", "/readyz"): PUBLIC, ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC, ("GET", "/docs/oauth2-redirect"): PUBLIC, ("GET", "/redoc"): PUBLIC,
    ("GET", "/metrics"): "admin",  # with MASKWATCH_PROTECT_METRICS
    ("GET", "/v1/info"): ANY,
    ("POST", "/v1/classify"): "classify", ("POST", "/v1/annotate"): "classify", ("POST", "/v1/null"): "classify",
    ("GET", "/v1/cameras"): "viewer", ("POST", "/v1/cameras"): "admin",
    ("GET", "/v1/cameras/{camera}"): "viewer", ("PATCH", "/v1/cameras/{camera}"): "admin", ("DELETE", "/v1/cameras/{camera}"): "admin",
    ("GET", "/v1/cameras/{camera}/stats"): "viewer", ("GET", "/v1/cameras/{camera}/snapshot"): "viewer",
    ("GET", "/v1/reports/daily"): "viewer",
}
KEYS = {"viewer": "v-key", "classify": "c-key", "admin": "a-key"}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("roles")
    (folder / "cameras.yaml").write_text("cameras:\n  - {id: door, url: 'rtsp://127.0.0.1:9/nothing', fps: 1}\n")
    settings = Settings(api_keys=[f"{key}:{role}" for role, key in KEYS.items()], protect_metrics=True,
                        cameras_file=folder / "cameras.yaml", cameras_db=folder / "c.db")
    with TestClient(create_app(settings, load_models=False)) as client:
        yield client


def routes(app) -> set[tuple[str, str]]:
    """(method, path) of every route, those of included routers too (FastAPI includes them lazily)."""
    found = set()
    for route in app.routes:
        for each in route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]:
            found |= {(method, each.path) for method in (getattr(each, "methods", None) or set()) - {"HEAD"}}
    return found


def test_every_route_of_the_app_is_in_the_table(client):
    assert routes(client.app) == set(ROUTES)


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_every_route_against_every_role(client, route):
    method, path = route
    needed = ROUTES[route]
    url = path.replace("{camera}", "door")
    for role, key in [(None, None), *KEYS.items()]:
        response = client.request(method, url, headers={"X-API-Key": key} if key else {}, json={} if method in ("POST", "PATCH") else None)
        allowed = needed == PUBLIC or (role is not None and (needed == ANY or role in (needed, "admin")))
        if allowed:
            assert response.status_code not in (401, 403), (route, role, response.text)
        elif role is None:
            assert response.status_code == 401, (route, role, response.text)
        else:
            error = response.json()["error"]
            assert response.status_code == 403 and error["code"] == "forbidden" and f"the {needed} role" in error["message"], (route, role)


def test_unblurred_snapshots_are_for_admins(client):
    viewer = client.get("/v1/cameras/door/snapshot?blur=false", headers={"X-API-Key": KEYS["viewer"]})
    assert viewer.status_code == 403 and "admin" in viewer.json()["error"]["message"]
    assert client.get("/v1/cameras/door/snapshot?blur=false", headers={"X-API-Key": KEYS["admin"]}).json()["error"]["code"] == "no_frame"


def test_keys_file_roles_a_bare_key_is_admin_and_an_unknown_role_stops_the_start(tmp_path):
    digest = lambda key: hashlib.sha256(key.encode()).hexdigest()  # noqa: E731
    keys = tmp_path / "keys"
    keys.write_text(f"{digest('kiosk')} classify  # the kiosk\n{digest('old')}\n")
    app = create_app(Settings(api_keys=["bare"], api_keys_file=keys, cameras_db=tmp_path / "c.db"), load_models=False)
    assert {(k.role, k.name) for k in app.state.keys} == {("admin", digest("bare")[:8]), ("classify", digest("kiosk")[:8]),
                                                          ("admin", digest("old")[:8])}
    with TestClient(app) as client:
        assert client.get("/v1/cameras", headers={"X-API-Key": "kiosk"}).status_code == 403
        assert client.get("/v1/cameras", headers={"X-API-Key": "old"}).status_code == 200
    with pytest.raises(ValueError, match="unknown role 'owner'"):
        create_app(Settings(api_keys=["k:owner"]), load_models=False)
    keys.write_text(f"{digest('kiosk')} kiosk\n")
    with pytest.raises(ValueError, match="unknown role 'kiosk'"):
        create_app(Settings(api_keys_file=keys), load_models=False)


def test_admin_changes_are_audited_with_the_key_name_never_the_key(tmp_path):
    lines = []
    app = create_app(Settings(api_keys=["s3cret-admin-key"], cameras_db=tmp_path / "c.db"), load_models=False)
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(app_format(record))
    logging.getLogger("maskwatch").addHandler(handler)
    try:
        with TestClient(app, headers={"X-API-Key": "s3cret-admin-key"}) as client:
            assert client.post("/v1/cameras", json={"id": "door", "url": "rtsp://u:pw@127.0.0.1:9/x", "enabled": False}).status_code == 201
            assert client.patch("/v1/cameras/door", json={"fps": 1}).status_code == 200
            assert client.delete("/v1/cameras/door").status_code == 204
            with client.app.state.cameras.store.engine.connect() as db:  # and in the database, which replicas share
                rows = db.exec_driver_sql("SELECT key, action, camera FROM audit ORDER BY id").all()
            assert [tuple(r) for r in rows] == [(hashlib.sha256(b"s3cret-admin-key").hexdigest()[:8], a, "door")
                                                for a in ("camera_added", "camera_changed", "camera_deleted")]
    finally:
        logging.getLogger("maskwatch").removeHandler(handler)
    audits = [json.loads(line) for line in lines if '"audit"' in line]
    name = hashlib.sha256(b"s3cret-admin-key").hexdigest()[:8]
    assert [(a["audit"], a["camera"], a["key"]) for a in audits] == [("camera_added", "door", name), ("camera_changed", "door", name),
                                                                     ("camera_deleted", "door", name)]
    assert audits[1]["changed"] == ["fps"] and not any("s3cret" in line or "pw@" in line for line in lines)


def app_format(record: logging.LogRecord) -> str:
    from app.logs import JSONFormatter
    return JSONFormatter().format(record)
