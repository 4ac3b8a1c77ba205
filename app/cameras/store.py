"""What the cameras keep in the database (app/database.py), SQLite or PostgreSQL alike: the cameras clients added,
the people counted per camera and minute (in all, per zone, per line crossed), the key of each person counted (so a
write retried after a lost connection counts once), which replica watches which camera (leases), each watched
camera's live state (heartbeats), alert state and the audit log of admin changes. Each call is one short
transaction; callers run them off the event loop."""
import contextlib
import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import Boolean, Column, Connection, Float, Integer, MetaData, Table, Text, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.compliance import LABELS, no_people
from app.database import migrate, open_engine

meta = MetaData()
cameras = Table("cameras", meta, Column("id", Text, primary_key=True), Column("spec", Text, nullable=False))
people = Table("people", meta, Column("camera", Text, primary_key=True), Column("minute", Integer, primary_key=True),
               Column("label", Text, primary_key=True), Column("count", Integer, nullable=False))
zone_people = Table("zone_people", meta, Column("camera", Text, primary_key=True), Column("minute", Integer, primary_key=True),
                    Column("zone", Text, primary_key=True), Column("label", Text, primary_key=True), Column("count", Integer, nullable=False))
crossings = Table("crossings", meta, Column("camera", Text, primary_key=True), Column("minute", Integer, primary_key=True),
                  Column("line", Text, primary_key=True), Column("direction", Text, primary_key=True),
                  Column("label", Text, primary_key=True), Column("count", Integer, nullable=False))
counted = Table("counted", meta, Column("camera", Text, primary_key=True), Column("person", Text, primary_key=True),
                Column("minute", Integer, nullable=False))
replicas = Table("replicas", meta, Column("name", Text, primary_key=True), Column("seen_at", Float, nullable=False))
leases = Table("leases", meta, Column("camera", Text, primary_key=True), Column("replica", Text, nullable=False),
               Column("expires", Float, nullable=False))
heartbeats = Table("heartbeats", meta, Column("camera", Text, primary_key=True), Column("replica", Text, nullable=False),
                   Column("at", Float, nullable=False), Column("state", Text, nullable=False))
alert_state = Table("alert_state", meta, Column("camera", Text, primary_key=True), Column("rule", Text, primary_key=True),
                    Column("firing", Boolean, nullable=False), Column("last_sent", Float))
audit = Table("audit", meta, Column("id", Integer, primary_key=True, autoincrement=True), Column("at", Float, nullable=False),
              Column("key", Text, nullable=False), Column("action", Text, nullable=False), Column("camera", Text, nullable=False),
              Column("changed", Text, nullable=False))
alert_log = Table("alert_log", meta, Column("id", Integer, primary_key=True, autoincrement=True), Column("camera", Text, nullable=False),
                  Column("rule", Text, nullable=False), Column("fired_at", Float, nullable=False), Column("alert", Text, nullable=False))
downtime = Table("downtime", meta, Column("camera", Text, primary_key=True), Column("start", Float, primary_key=True), Column("end", Float))
COUNTS = (people, zone_people, crossings, counted)


@dataclass(frozen=True)
class Counted:
    """One person to count. `person` is unique to them (replica, track, first-seen time), so writing them twice counts once."""
    camera: str
    person: str
    minute: int
    label: str
    zone: str | None = None
    crossings: tuple[tuple[str, str], ...] = field(default=())


class CameraStore:
    def __init__(self, url: str):
        """Connect to `url` (app.database.database_url) and migrate; raises what the driver raises when the database
        cannot be reached."""
        self.engine = open_engine(url)
        self.postgres = self.engine.dialect.name == "postgresql"
        self.insert = pg_insert if self.postgres else sqlite_insert
        self._lock = contextlib.nullcontext() if self.postgres else threading.Lock()  # one SQLite writer at a time
        self._snapshot = threading.local()
        migrate(self.engine)

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Connection]:
        """One transaction, or the thread's `snapshot`."""
        current = getattr(self._snapshot, "db", None)
        if current is not None:
            yield current
            return
        with self._lock, self.engine.begin() as connection:
            yield connection

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """The calls of this thread inside read one state of the database, so that a total, its zones and its lines
        add up while people are counted: PostgreSQL's repeatable read; on SQLite the lock keeps this process's writers
        out, and one process writes a camera's counts."""
        options = {"isolation_level": "REPEATABLE READ"} if self.postgres else {}
        with self._lock, self.engine.connect().execution_options(**options) as db, db.begin():
            self._snapshot.db = db
            try:
                yield
            finally:
                self._snapshot.db = None

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        with self._begin() as db:
            db.execute(select(1))

    def cameras(self) -> list[dict]:
        with self._begin() as db:
            return [json.loads(spec) for (spec,) in db.execute(select(cameras.c.spec).order_by(cameras.c.id))]

    def camera(self, camera: str) -> dict | None:
        with self._begin() as db:
            spec = db.scalar(select(cameras.c.spec).where(cameras.c.id == camera))
        return json.loads(spec) if spec else None

    def add_camera(self, spec: dict) -> bool:
        """False when a camera of that id exists already (on any replica)."""
        with self._begin() as db:
            return self.inserted(db, self.insert(cameras).values(id=spec["id"], spec=json.dumps(spec)).on_conflict_do_nothing(), cameras)

    def put_camera(self, spec: dict) -> None:
        with self._begin() as db:
            db.execute(update(cameras).where(cameras.c.id == spec["id"]).values(spec=json.dumps(spec)))

    def delete_camera(self, camera: str) -> bool:
        """Forget the camera, its counts and its live state; False when there was none."""
        with self._begin() as db:
            found = db.execute(delete(cameras).where(cameras.c.id == camera)).rowcount == 1
            for table in (*COUNTS, leases, heartbeats, alert_state, alert_log, downtime):
                db.execute(delete(table).where(table.c.camera == camera))
        return found

    def add_people(self, rows: Iterable[Counted]) -> int:
        """Count each person whose key is new, in the camera's total, their zone's and each (line, direction) they
        crossed, in one transaction; returns how many were new."""
        new = 0
        with self._begin() as db:
            for row in rows:
                key = {"camera": row.camera, "minute": row.minute, "label": row.label}
                if not self.inserted(db, self.insert(counted).values(camera=row.camera, person=row.person, minute=row.minute)
                                      .on_conflict_do_nothing(), counted):
                    continue
                new += 1
                self._add(db, people, key)
                if row.zone:
                    self._add(db, zone_people, {**key, "zone": row.zone})
                for line, direction in row.crossings:
                    self._add(db, crossings, {**key, "line": line, "direction": direction})
        return new

    @staticmethod
    def inserted(db: Connection, statement, table: Table) -> bool:
        """Whether an insert or upsert wrote a row (by RETURNING: psycopg reports no row count for these)."""
        return db.execute(statement.returning(*table.primary_key.columns)).first() is not None

    def _add(self, db: Connection, table: Table, key: dict) -> None:
        statement = self.insert(table).values(**key, count=1)
        db.execute(statement.on_conflict_do_update(index_elements=list(key), set_={"count": table.c.count + 1}))

    def counts(self, camera: str, since_minute: int, until_minute: int, zone: str | None = None) -> dict[str, int]:
        """People by label counted in [since_minute, until_minute), in all or in `zone`."""
        table = zone_people if zone else people
        query = select(table.c.label, func.sum(table.c.count)).where(*self._window(table, camera, since_minute, until_minute))
        if zone:
            query = query.where(table.c.zone == zone)
        with self._begin() as db:
            found = dict(db.execute(query.group_by(table.c.label)).all())
        return {label: int(found.get(label, 0)) for label in LABELS}

    @staticmethod
    def _window(table: Table, camera: str, since_minute: int, until_minute: int) -> tuple:
        return table.c.camera == camera, table.c.minute >= since_minute, table.c.minute < until_minute

    def zone_counts(self, camera: str, since_minute: int, until_minute: int) -> dict[str, dict[str, int]]:
        """People by label per zone counted in [since_minute, until_minute) (zones with nobody are left out)."""
        t = zone_people
        with self._begin() as db:
            rows = db.execute(select(t.c.zone, t.c.label, func.sum(t.c.count)).where(*self._window(t, camera, since_minute, until_minute))
                              .group_by(t.c.zone, t.c.label)).all()
        out: dict[str, dict[str, int]] = {}
        for zone, label, count in rows:
            out.setdefault(zone, no_people())[label] = int(count)
        return out

    def line_counts(self, camera: str, since_minute: int, until_minute: int) -> dict[tuple[str, str], dict[str, int]]:
        """People by label per (line, direction) crossed in [since_minute, until_minute)."""
        t = crossings
        with self._begin() as db:
            rows = db.execute(select(t.c.line, t.c.direction, t.c.label, func.sum(t.c.count))
                              .where(*self._window(t, camera, since_minute, until_minute)).group_by(t.c.line, t.c.direction, t.c.label)).all()
        out: dict[tuple[str, str], dict[str, int]] = {}
        for line, direction, label, count in rows:
            out.setdefault((line, direction), no_people())[label] = int(count)
        return out

    def series(self, camera: str, since_minute: int, until_minute: int, bucket_minutes: int, zone: str | None = None) -> dict[int, dict[str, int]]:
        """People by label per bucket, keyed by each bucket's first minute (buckets start at `since_minute`)."""
        table = zone_people if zone else people
        query = select(table.c.minute, table.c.label, table.c.count).where(*self._window(table, camera, since_minute, until_minute))
        if zone:
            query = query.where(table.c.zone == zone)
        with self._begin() as db:
            rows = db.execute(query).all()
        out: dict[int, dict[str, int]] = {}
        for minute, label, count in rows:  # bucketed here: the same on both databases, and at most a row per minute and label
            bucket = out.setdefault(since_minute + (minute - since_minute) // bucket_minutes * bucket_minutes, no_people())
            bucket[label] += int(count)
        return out

    def purge(self, before_minute: int) -> int:
        """Drop counts older than `before_minute` (the retention); returns the rows dropped."""
        with self._begin() as db:
            return sum(db.execute(delete(t).where(t.c.minute < before_minute)).rowcount for t in COUNTS)

    def heartbeat(self, replica: str, watching: bool, states: dict[str, dict], now: float) -> None:
        """This replica is alive (among those sharing the cameras, when `watching`), and the live state of each camera
        it watches; the cameras it no longer watches lose its word on them."""
        with self._begin() as db:
            db.execute(delete(heartbeats).where(heartbeats.c.replica == replica, heartbeats.c.camera.not_in(list(states))))
            if watching:
                db.execute(self.insert(replicas).values(name=replica, seen_at=now)
                           .on_conflict_do_update(index_elements=["name"], set_={"seen_at": now}))
            for camera, state in states.items():
                db.execute(self.insert(heartbeats).values(camera=camera, replica=replica, at=now, state=json.dumps(state))
                           .on_conflict_do_update(index_elements=["camera"], set_={"replica": replica, "at": now, "state": json.dumps(state)}))

    def live(self, camera: str, fresh_after: float) -> tuple[str, dict] | None:
        """(replica, state) of the camera's newest heartbeat after `fresh_after`; None when there is none."""
        with self._begin() as db:
            row = db.execute(select(heartbeats.c.replica, heartbeats.c.state)
                             .where(heartbeats.c.camera == camera, heartbeats.c.at > fresh_after)).first()
        return (row[0], json.loads(row[1])) if row else None

    def live_replicas(self, fresh_after: float) -> list[str]:
        with self._begin() as db:
            return list(db.scalars(select(replicas.c.name).where(replicas.c.seen_at > fresh_after).order_by(replicas.c.name)))

    def leases(self, replica: str, wanted: list[str], keep: int, now: float, lease_s: float) -> list[str]:
        """Renew this replica's leases on cameras it still wants, up to `keep` of them, release the rest, and take
        expired or free ones among `wanted` until it holds `keep`; returns the cameras it holds. Taking is one
        conditional upsert per camera, so two replicas never both get one."""
        with self._begin() as db:
            held = sorted(db.scalars(select(leases.c.camera).where(leases.c.replica == replica)))
            kept = [c for c in held if c in wanted][:keep]
            db.execute(delete(leases).where(leases.c.replica == replica, leases.c.camera.not_in(kept)))
            db.execute(update(leases).where(leases.c.replica == replica).values(expires=now + lease_s))
            for camera in [c for c in wanted if c not in kept]:
                if len(kept) >= keep:
                    break
                if self.inserted(db, self.insert(leases).values(camera=camera, replica=replica, expires=now + lease_s)
                                  .on_conflict_do_update(index_elements=["camera"], set_={"replica": replica, "expires": now + lease_s},
                                                         where=leases.c.expires < now), leases):
                    kept.append(camera)
        return kept

    def release(self, replica: str) -> None:
        """A clean stop: this replica's cameras are free at once, and it is no longer counted as live."""
        with self._begin() as db:
            db.execute(delete(leases).where(leases.c.replica == replica))
            db.execute(delete(replicas).where(replicas.c.name == replica))

    def alert_states(self) -> dict[tuple[str, str], tuple[bool, float | None]]:
        with self._begin() as db:
            return {(c, r): (f, s) for c, r, f, s in db.execute(select(alert_state))}

    def put_alert_state(self, camera: str, rule: str, firing: bool, last_sent: float | None) -> None:
        with self._begin() as db:
            db.execute(self.insert(alert_state).values(camera=camera, rule=rule, firing=firing, last_sent=last_sent)
                       .on_conflict_do_update(index_elements=["camera", "rule"], set_={"firing": firing, "last_sent": last_sent}))

    def audit(self, key: str, action: str, camera: str, changed: list[str]) -> None:
        with self._begin() as db:
            db.execute(audit.insert().values(at=time.time(), key=key, action=action, camera=camera, changed=json.dumps(changed)))

    def log_alert(self, alert: dict, fired_at: float) -> None:
        with self._begin() as db:
            db.execute(alert_log.insert().values(camera=alert["camera"], rule=alert["rule"], fired_at=fired_at, alert=json.dumps(alert)))

    def alerts(self, camera: str, since: float, until: float) -> list[tuple[float, dict]]:
        """(when, the alert) of each alert sent for `camera` in [since, until), oldest first."""
        with self._begin() as db:
            rows = db.execute(select(alert_log.c.fired_at, alert_log.c.alert).where(
                alert_log.c.camera == camera, alert_log.c.fired_at >= since, alert_log.c.fired_at < until).order_by(alert_log.c.fired_at))
            return [(at, json.loads(alert)) for at, alert in rows]

    def mark_down(self, camera: str, down: bool, now: float) -> None:
        """A camera went down (an interval opens, unless one is open) or came back (the open one closes)."""
        with self._begin() as db:
            open_ = db.scalar(select(downtime.c.start).where(downtime.c.camera == camera, downtime.c.end.is_(None)))
            if down and open_ is None:
                db.execute(downtime.insert().values(camera=camera, start=now, end=None))
            elif not down and open_ is not None:
                db.execute(update(downtime).where(downtime.c.camera == camera, downtime.c.start == open_).values(end=now))

    def down_seconds(self, camera: str, since: float, until: float) -> float:
        """Seconds of [since, until) the camera was down (an interval still open counts up to `until`, or now)."""
        end = func.coalesce(downtime.c.end, min(until, time.time()))
        with self._begin() as db:
            rows = db.execute(select(downtime.c.start, end).where(downtime.c.camera == camera, downtime.c.start < until, end > since)).all()
        return sum(max(0.0, min(stop, until) - max(start, since)) for start, stop in rows)
