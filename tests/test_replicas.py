"""Replicas sharing one real PostgreSQL (bench/postgres.py): each camera watched by exactly one of them, every one
answering for every camera, a SIGKILLed replica's cameras taken over within 30 s with their counts kept; and a
database and an MQTT broker (Mosquitto, tests/broker.py) that go away mid-stream: nothing crashes or pauses, no
count within the buffer is lost, the state is published again, the day's report adds up to /stats (on the clip of group 0, the shortest with people), and SIGTERM
says `offline`. Leases are shortened so that this takes seconds; what the defaults give is measured by
bench/replicas.py."""
import json
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx

from bench.streams import clips
from tests.broker import Listener, Mosquitto, needs_mosquitto
from tests.conftest import maskwatch, wait_for
from tests.streams import add, camera, needs_ffmpeg, people

FAST = {"MASKWATCH_HEARTBEAT_S": "0.5", "MASKWATCH_LEASE_S": "4"}  # 8 heartbeats of slack: servers starting beside slow the loop
GROUP0 = clips.STILL_PEOPLE  # the people of group 0, who are the still clip's too
NOWHERE = "rtsp://127.0.0.1:9/nothing"  # watched, and never up: enough to see who watches it


def replicas(stack: ExitStack, tmp_path, url: str, names: list[str], **env: str) -> dict[str, tuple]:
    """Real servers sharing the database at `url`, started at once; each stops with `stack`."""
    def start(name: str) -> tuple[ExitStack, tuple]:
        own = ExitStack()
        return own, own.enter_context(maskwatch(tmp_path, MASKWATCH_DATABASE_URL=url, MASKWATCH_REPLICA_NAME=name, **FAST, **env))

    with ThreadPoolExecutor(len(names)) as pool:
        started = dict(zip(names, pool.map(start, names)))
    for own, _ in started.values():
        stack.callback(own.close)
    return {name: running for name, (_, running) in started.items()}


def watched(client: httpx.Client) -> int:
    return int(float(re.search(r"^maskwatch_cameras_watched (\S+)$", client.get("/metrics").text, re.M)[1]))


def owners(client: httpx.Client) -> dict[str, str | None]:
    return {c["id"]: c["watched_by"] for c in client.get("/v1/cameras").json()["cameras"]}


def test_replicas_joining_share_the_cameras_answer_for_all_and_take_over_a_killed_ones(tmp_path, postgres):
    with ExitStack() as stack:
        url = postgres.new_database()
        running = replicas(stack, tmp_path, url, ["r1"])
        first = running["r1"][0]
        for i in range(6):
            add(first, id=f"cam{i}", url=NOWHERE)
        wait_for(lambda: watched(first) == 6, 10, "one replica alone did not watch every camera")
        running |= replicas(stack, tmp_path, url, ["r2", "r3"])  # two join: the cameras are shared out again
        # exactly one replica watches each camera, two each, and every replica says the same
        wait_for(lambda: [watched(c) for c, _, _ in running.values()] == [2, 2, 2], 20, "the cameras were never shared 2-2-2")
        # shares settle within a few heartbeats of a join (a replica seen late takes a larger share, then lets go)
        seen = wait_for(lambda: (o := [owners(c) for c, _, _ in running.values()]) and o[0] == o[1] == o[2]
                        and sorted(o[0].values()) == ["r1", "r1", "r2", "r2", "r3", "r3"] and o[0], 20,
                        "the replicas never agreed on two cameras each")
        # a camera added through one replica is answered by the others
        add(running["r3"][0], id="late", url=NOWHERE)
        assert camera(running["r2"][0], "late")["id"] == "late"
        lost = sorted(c for c, owner in seen.items() if owner == "r2")
        running["r2"][2].send_signal(signal.SIGKILL)
        start = time.monotonic()
        after = wait_for(lambda: (o := owners(first)) and all(o[c] in ("r1", "r3") for c in lost) and o, 30,
                         "the killed replica's cameras were not taken over within 30 s")
        assert time.monotonic() - start < 30 and set(after.values()) == {"r1", "r3"}
        wait_for(lambda: watched(running["r1"][0]) + watched(running["r3"][0]) == 7, 10, "not every camera watched once")


@needs_ffmpeg
@needs_mosquitto
def test_a_database_and_a_broker_away_mid_stream_stop_nothing_and_lose_nothing_then_a_killed_replica(tmp_path, postgres, media):
    url, broker = postgres.new_database(), Mosquitto(tmp_path)
    listener = Listener(broker.port)
    with ExitStack() as stack:
        stack.callback(broker.kill)
        stack.callback(listener.close)
        running = replicas(stack, tmp_path, url, ["a"], MASKWATCH_MQTT_URL=broker.url)
        client = running["a"][0]
        add(client, id="file", url=media["group0"].as_uri())  # group 0 alone: the shortest clip with people
        wait_for(lambda: camera(client, "file")["frames_analysed"] > 0, 30, "the clip was never analysed")
        postgres.stop()  # mid-stream: the people counted from now on wait in the buffer
        broker.kill()
        wait_for(lambda: client.get("/readyz").json()["store"] == "unreachable", 10, "/readyz never said the database is away")
        assert client.get("/v1/cameras/file").status_code == 503
        total = sum(GROUP0.values())
        wait_for(lambda: counted(client) == total, 60, "analysis stopped while the database and the broker were away")
        postgres.start()
        broker.start()  # empty: no retained message survived it
        state = wait_for(lambda: (r := client.get("/v1/cameras/file")).status_code == 200 and r.json()["status"] == "ended" and r.json(),
                         30, "the camera never answered again")
        wait_for(lambda: people(camera(client, "file")) == GROUP0, 15, "counts made while the database was away were lost")
        assert client.get("/readyz").json()["store"] == "ok" and state["watched_by"] == "a"
        published = wait_for(lambda: (s := json.loads(listener.last.get("maskwatch/cameras/file/state", "{}"))) and s["today"]["people"] == total and s,
                             40, "the state was not published again once the broker was back")
        assert {k: published["today"][k] for k in GROUP0} == GROUP0 and listener.last["maskwatch/availability"] == "online"
        rows = [line.split(",") for line in client.get("/v1/reports/daily", params={"format": "csv"}).text.splitlines()[1:] if line.startswith("file,,")]
        stats = client.get("/v1/cameras/file/stats", params={"since": rows[0][2], "bucket": "1d"}).json()["total"]
        assert {label: sum(int(r[3 + i]) for r in rows) for i, label in enumerate(clips.PEOPLE)} == {k: stats[k] for k in clips.PEOPLE} == GROUP0
        assert client.patch("/v1/cameras/file", json={"url": NOWHERE}).status_code == 200  # so a new watcher does not replay it
        other, _, other_proc = replicas(stack, tmp_path, url, ["b"], MASKWATCH_MQTT_URL=broker.url)["b"]
        running["a"][2].send_signal(signal.SIGKILL)
        wait_for(lambda: camera(other, "file")["watched_by"] == "b", 30, "the killed replica's camera was not taken over")
        assert people(camera(other, "file")) == GROUP0  # every count made before the kill is there
        other_proc.send_signal(signal.SIGTERM)
        other_proc.wait(timeout=30)
        wait_for(lambda: listener.last["maskwatch/availability"] == "offline", 5, "no offline after SIGTERM")
    assert "Traceback" not in running["a"][1].read_text()


def counted(client: httpx.Client) -> int:
    """People counted by this replica, from its Prometheus counter, which needs no database."""
    return int(sum(float(v) for v in re.findall(r'^maskwatch_camera_people_total\{camera="file".*\} (\S+)$', client.get("/metrics").text, re.M)))
