"""Cameras over replicas: every camera has one owner among the live peers, a peer lost moves only its cameras,
and two real app instances sharing a cameras file split it between them."""
import time
from collections import Counter

from fastapi.testclient import TestClient

from app.cameras.sharding import owner, resolve_peers
from app.main import create_app
from app.settings import Settings

CAMERAS = [f"cam{i}" for i in range(300)]


def test_each_camera_has_one_owner_and_a_lost_peer_moves_only_its_own():
    peers = {"10.0.0.1", "10.0.0.2", "10.0.0.3"}
    before = {c: owner(c, peers) for c in CAMERAS}
    assert set(before.values()) == peers and all(60 <= n <= 140 for n in Counter(before.values()).values())
    after = {c: owner(c, peers - {"10.0.0.2"}) for c in CAMERAS}
    moved = {c for c in CAMERAS if before[c] != after[c]}
    assert moved == {c for c in CAMERAS if before[c] == "10.0.0.2"}  # nobody else's camera moves
    assert owner("cam0", set()) is None and before == {c: owner(c, sorted(peers, reverse=True)) for c in CAMERAS}


def test_peer_names_resolve_to_addresses_and_unknown_names_to_none():
    assert resolve_peers(["127.0.0.1", "127.0.0.2", "no-such-peer.invalid"]) == {"127.0.0.1", "127.0.0.2"}


def watched(client: TestClient) -> set[str]:
    return {c["id"] for c in client.get("/v1/cameras").json()["cameras"]}


def test_two_replicas_split_the_cameras_and_one_alone_takes_them_all(tmp_path):
    names = [f"cam{i}" for i in range(8)]
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text("cameras:\n" + "".join(f"  - {{id: {n}, url: 'rtsp://127.0.0.1:9/{n}', fps: 1}}\n" for n in names))

    def replica(me: str, peers: list[str]) -> TestClient:
        settings = Settings(cameras_file=cameras, cameras_db=tmp_path / f"{me}.db", camera_peers=peers, camera_self=me, camera_peer_poll_s=0.1)
        return TestClient(create_app(settings, load_models=False))

    both = ["127.0.0.1", "127.0.0.2"]
    with replica("127.0.0.1", both) as one, replica("127.0.0.2", both) as two:
        time.sleep(0.5)
        first, second = watched(one), watched(two)
        assert first and second and not first & second and first | second == set(names)
        elsewhere = sorted(second)[0]
        response = one.get(f"/v1/cameras/{elsewhere}")
        assert response.status_code == 404 and "127.0.0.2" in response.json()["error"]["message"]
        added = one.post("/v1/cameras", json={"id": "extra", "url": "rtsp://127.0.0.1:9/x"})
        assert added.status_code == 409 and added.json()["error"]["code"] == "sharded"
    # the second replica gone (its name no longer resolves): the first takes every camera
    with replica("127.0.0.1", ["127.0.0.1", "gone.invalid"]) as alone:
        time.sleep(0.5)
        assert watched(alone) == set(names)
