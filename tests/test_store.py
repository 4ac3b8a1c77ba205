"""The camera store on both back ends, SQLite and a real PostgreSQL (tests/postgres.py): counts and their windows,
a person written twice counted once, leases shared fairly and taken over when they run out, heartbeats, alert
state, the audit log, and a SQLite file of the version before Alembic taken over with its counts."""
import sqlite3
import threading

from app.cameras.store import CameraStore, Counted
from app.database import database_url


def person(key: str, minute: int, label: str, zone: str | None = None, crossings=()) -> Counted:
    return Counted("door", key, minute, label, zone, tuple(crossings))


def test_counts_series_retention_and_a_restart(database):
    store = CameraStore(database)
    assert store.add_camera({"id": "door", "url": "rtsp://h/x"}) and not store.add_camera({"id": "door", "url": "rtsp://h/y"})
    rows = [person(f"p{i}", minute, label) for i, (minute, label) in
            enumerate([(100, "with_mask"), (100, "with_mask"), (101, "without_mask"), (160, "uncertain"), (30, "with_mask")])]
    assert store.add_people(rows) == 5
    assert store.counts("door", 100, 161) == {"with_mask": 2, "without_mask": 1, "mask_worn_incorrectly": 0, "uncertain": 1}
    series = store.series("door", 100, 220, 60)
    assert series[100]["with_mask"] == 2 and series[100]["without_mask"] == 1 and series[160]["uncertain"] == 1
    assert store.purge(100) == 2 and store.counts("door", 0, 1000)["with_mask"] == 2  # the count row and the person's key
    store.close()
    reopened = CameraStore(database)  # a restart keeps cameras and counts
    assert reopened.cameras() == [{"id": "door", "url": "rtsp://h/x"}] and reopened.camera("door") == {"id": "door", "url": "rtsp://h/x"}
    assert reopened.counts("door", 0, 1000)["without_mask"] == 1
    assert reopened.delete_camera("door") and reopened.counts("door", 0, 1000)["without_mask"] == 0 and not reopened.delete_camera("door")
    reopened.close()


def test_a_person_written_twice_is_counted_once_in_all_zone_and_line(database):
    store = CameraStore(database)
    one = person("replica-a/7/1700000000.000", 10, "without_mask", "till", [("entrance", "in")])
    assert store.add_people([one]) == 1
    assert store.add_people([one, person("replica-a/8/1700000001.000", 10, "with_mask")]) == 1  # a retried batch
    assert store.counts("door", 0, 20) == {"with_mask": 1, "without_mask": 1, "mask_worn_incorrectly": 0, "uncertain": 0}
    assert store.zone_counts("door", 0, 20)["till"]["without_mask"] == 1 and store.counts("door", 0, 20, "till")["without_mask"] == 1
    assert store.line_counts("door", 0, 20)[("entrance", "in")]["without_mask"] == 1
    store.close()


def test_a_snapshot_adds_up_while_people_are_being_counted(database):
    store, done = CameraStore(database), threading.Event()

    def count_people():
        for i in range(150):
            store.add_people([person(f"r/{i}/0", 10, "with_mask", "till", [("entrance", "in")])])
        done.set()

    writer = threading.Thread(target=count_people)
    writer.start()
    while not done.is_set():  # everyone is in the till zone and crosses the line: the three must agree
        with store.snapshot():
            total, zones, lines = store.counts("door", 0, 20), store.zone_counts("door", 0, 20), store.line_counts("door", 0, 20)
        assert total["with_mask"] == zones.get("till", {}).get("with_mask", 0) == lines.get(("entrance", "in"), {}).get("with_mask", 0)
    writer.join()
    assert store.counts("door", 0, 20)["with_mask"] == 150
    store.close()


def test_leases_are_shared_fairly_taken_once_and_taken_over_when_they_run_out(database):
    store, cameras = CameraStore(database), [f"cam{i}" for i in range(10)]
    a = store.leases("a", cameras, 5, now=100, lease_s=15)
    b = store.leases("b", cameras, 5, now=100, lease_s=15)
    assert len(a) == len(b) == 5 and not set(a) & set(b)
    assert store.leases("c", cameras, 4, now=110, lease_s=15) == []  # none has run out
    assert store.leases("a", cameras, 3, now=110, lease_s=15) == a[:3]  # a newcomer made the share smaller: two let go
    assert sorted(store.leases("c", cameras, 4, now=111, lease_s=15)) == sorted(a[3:])  # and the newcomer takes them
    assert sorted(store.leases("c", cameras, 4, now=116, lease_s=15)) == sorted(a[3:] + b[:2])  # b stopped renewing at 100
    taken = store.leases("c", cameras, 10, now=200, lease_s=15)  # every other lease ran out
    assert sorted(taken) == cameras
    store.release("c")
    assert store.leases("a", cameras, 10, now=201, lease_s=15) == cameras
    store.close()


def test_heartbeats_replicas_alert_state_and_audit(database):
    store = CameraStore(database)
    store.heartbeat("a", True, {"door": {"status": "up"}}, now=100)
    store.heartbeat("api", False, {}, now=100)  # a replica that watches nothing is not counted among those sharing
    assert store.live("door", fresh_after=90) == ("a", {"status": "up"}) and store.live("door", fresh_after=100) is None
    assert store.live_replicas(fresh_after=90) == ["a"]
    store.put_alert_state("door", "low_compliance", True, 99.5)
    store.put_alert_state("door", "low_compliance", False, 99.5)
    assert store.alert_states() == {("door", "low_compliance"): (False, 99.5)}
    store.audit("abcd1234", "camera_added", "door", ["id", "url"])
    with store.engine.connect() as db:
        assert [tuple(r[2:]) for r in db.exec_driver_sql("SELECT * FROM audit")] == [("abcd1234", "camera_added", "door", '["id", "url"]')]
    store.close()


def test_a_database_from_before_alembic_is_taken_over_with_its_counts(tmp_path):
    path = tmp_path / "cameras.db"
    old = sqlite3.connect(path)  # the schema MaskWatch 0.2.0 made
    old.executescript("""
        CREATE TABLE cameras (id TEXT PRIMARY KEY, spec TEXT NOT NULL);
        CREATE TABLE people (camera TEXT NOT NULL, minute INTEGER NOT NULL, label TEXT NOT NULL, count INTEGER NOT NULL,
                             PRIMARY KEY (camera, minute, label));
        INSERT INTO cameras VALUES ('door', '{"id": "door", "url": "rtsp://h/x"}');
        INSERT INTO people VALUES ('door', 5, 'with_mask', 3);""")
    old.commit()
    old.close()
    store = CameraStore(database_url(None, path))
    assert store.counts("door", 0, 10)["with_mask"] == 3 and store.cameras()[0]["id"] == "door"
    store.add_people([person("k", 5, "with_mask", "till")])
    assert store.counts("door", 0, 10)["with_mask"] == 4 and store.zone_counts("door", 0, 10)["till"]["with_mask"] == 1
    store.close()


def test_a_sqlite_database_is_imported_into_postgresql_once(tmp_path, postgres, monkeypatch):
    from tests.conftest import run_module

    sqlite_store = CameraStore(database_url(None, tmp_path / "cameras.db"))
    sqlite_store.add_camera({"id": "door", "url": "rtsp://h/x"})
    sqlite_store.add_people([person("a", 5, "with_mask", "till", [("entrance", "in")]), person("b", 6, "without_mask")])
    sqlite_store.audit("abcd1234", "camera_added", "door", ["id"])
    sqlite_store.close()
    url = postgres.new_database()
    monkeypatch.setenv("MASKWATCH_DATABASE_URL", url)
    first = run_module("app.cameras.import_sqlite", str(tmp_path / "cameras.db"))
    assert first.returncode == 0 and "people: 2 rows copied, 0 already there" in first.stdout, first.stderr
    again = run_module("app.cameras.import_sqlite", str(tmp_path / "cameras.db"))
    assert again.returncode == 0 and "people: 0 rows copied, 2 already there" in again.stdout
    store = CameraStore(database_url(url, ""))
    assert store.cameras() == [{"id": "door", "url": "rtsp://h/x"}] and store.counts("door", 0, 10)["with_mask"] == 1
    assert store.line_counts("door", 0, 10)[("entrance", "in")]["with_mask"] == 1
    assert store.add_people([person("a", 5, "with_mask")]) == 0  # the keys came along: a retried write still counts once
    store.close()
    missing = run_module("app.cameras.import_sqlite", str(tmp_path / "nothing.db"))
    assert missing.returncode != 0 and "no such file" in missing.stderr


def test_the_count_buffer_keeps_what_fits_counts_the_rest_and_writes_when_the_database_is_back(tmp_path):
    import asyncio

    from app import metrics
    from app.cameras.count_buffer import CountBuffer

    buffer, dropped = CountBuffer(size=2), metrics.STORE_DROPPED._value.get()
    for key in ("a", "b", "c"):  # the database away: two wait, the third is dropped and counted
        buffer.put(person(key, 5, "with_mask"))
    assert not asyncio.run(buffer._write(None)) and len(buffer.rows) == 2
    assert metrics.STORE_DROPPED._value.get() == dropped + 1 and buffer.dropping
    store = CameraStore(database_url(None, tmp_path / "cameras.db"))
    assert asyncio.run(buffer._write(store)) and not buffer.rows and not buffer.dropping
    assert store.counts("door", 0, 10)["with_mask"] == 2
    store.close()
