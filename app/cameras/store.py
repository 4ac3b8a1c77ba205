"""The cameras clients added, and the people counted per camera and minute (in all, per zone, and per line
crossed), in one SQLite file, so a restart resumes both. Calls come from the event loop's thread; each is a few
small statements."""
import json
import sqlite3
import threading
from pathlib import Path

from app.compliance import LABELS, no_people

SCHEMA = """
CREATE TABLE IF NOT EXISTS cameras (id TEXT PRIMARY KEY, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (camera TEXT NOT NULL, minute INTEGER NOT NULL, label TEXT NOT NULL,
                                   count INTEGER NOT NULL, PRIMARY KEY (camera, minute, label));
CREATE TABLE IF NOT EXISTS zone_people (camera TEXT NOT NULL, minute INTEGER NOT NULL, zone TEXT NOT NULL, label TEXT NOT NULL,
                                        count INTEGER NOT NULL, PRIMARY KEY (camera, minute, zone, label));
CREATE TABLE IF NOT EXISTS crossings (camera TEXT NOT NULL, minute INTEGER NOT NULL, line TEXT NOT NULL, direction TEXT NOT NULL,
                                      label TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (camera, minute, line, direction, label));
"""
TABLES = ("people", "zone_people", "crossings")


class CameraStore:
    def __init__(self, path: Path | str):
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.lock = threading.Lock()
        with self.lock:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(SCHEMA)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def cameras(self) -> list[dict]:
        with self.lock:
            return [json.loads(spec) for (spec,) in self.db.execute("SELECT spec FROM cameras ORDER BY id")]

    def put_camera(self, spec: dict) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO cameras (id, spec) VALUES (?, ?)", (spec["id"], json.dumps(spec)))

    def delete_camera(self, camera: str) -> None:
        with self.lock:
            self.db.execute("DELETE FROM cameras WHERE id = ?", (camera,))
            for table in TABLES:
                self.db.execute(f"DELETE FROM {table} WHERE camera = ?", (camera,))

    def add_person(self, camera: str, minute: int, label: str, zone: str | None = None, crossings: list[tuple[str, str]] = ()) -> None:
        """One person, in the camera's total, in `zone`'s, and in each (line, direction) they crossed: in one transaction."""
        with self.lock, self.db:
            self.db.execute("BEGIN")
            self.db.execute("INSERT INTO people VALUES (?, ?, ?, 1) ON CONFLICT (camera, minute, label) "
                            "DO UPDATE SET count = count + 1", (camera, minute, label))
            if zone:
                self.db.execute("INSERT INTO zone_people VALUES (?, ?, ?, ?, 1) ON CONFLICT (camera, minute, zone, label) "
                                "DO UPDATE SET count = count + 1", (camera, minute, zone, label))
            for line, direction in crossings:
                self.db.execute("INSERT INTO crossings VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (camera, minute, line, direction, label) "
                                "DO UPDATE SET count = count + 1", (camera, minute, line, direction, label))

    def counts(self, camera: str, since_minute: int, until_minute: int, zone: str | None = None) -> dict[str, int]:
        """People by label counted in [since_minute, until_minute), in all or in `zone`."""
        table, where, args = self._people(zone)
        with self.lock:
            rows = self.db.execute(f"SELECT label, SUM(count) FROM {table} WHERE camera = ? AND minute >= ? AND minute < ?{where} "
                                   "GROUP BY label", (camera, since_minute, until_minute, *args)).fetchall()
        found = dict(rows)
        return {label: int(found.get(label, 0)) for label in LABELS}

    def zone_counts(self, camera: str, since_minute: int, until_minute: int) -> dict[str, dict[str, int]]:
        """People by label per zone counted in [since_minute, until_minute) (zones with nobody are left out)."""
        with self.lock:
            rows = self.db.execute("SELECT zone, label, SUM(count) FROM zone_people WHERE camera = ? AND minute >= ? AND minute < ? "
                                   "GROUP BY zone, label", (camera, since_minute, until_minute)).fetchall()
        out: dict[str, dict[str, int]] = {}
        for zone, label, count in rows:
            out.setdefault(zone, no_people())[label] = int(count)
        return out

    def line_counts(self, camera: str, since_minute: int, until_minute: int) -> dict[tuple[str, str], dict[str, int]]:
        """People by label per (line, direction) crossed in [since_minute, until_minute)."""
        with self.lock:
            rows = self.db.execute("SELECT line, direction, label, SUM(count) FROM crossings WHERE camera = ? AND minute >= ? "
                                   "AND minute < ? GROUP BY line, direction, label", (camera, since_minute, until_minute)).fetchall()
        out: dict[tuple[str, str], dict[str, int]] = {}
        for line, direction, label, count in rows:
            out.setdefault((line, direction), no_people())[label] = int(count)
        return out

    @staticmethod
    def _people(zone: str | None) -> tuple[str, str, tuple]:
        return ("zone_people", " AND zone = ?", (zone,)) if zone else ("people", "", ())

    def series(self, camera: str, since_minute: int, until_minute: int, bucket_minutes: int, zone: str | None = None) -> dict[int, dict[str, int]]:
        """People by label per bucket, keyed by each bucket's first minute (buckets start at `since_minute`)."""
        table, where, args = self._people(zone)
        with self.lock:
            rows = self.db.execute(
                f"SELECT ? + ((minute - ?) / ?) * ?, label, SUM(count) FROM {table} WHERE camera = ? AND minute >= ? AND minute < ?{where} "
                "GROUP BY 1, 2", (since_minute, since_minute, bucket_minutes, bucket_minutes, camera, since_minute, until_minute, *args)).fetchall()
        out: dict[int, dict[str, int]] = {}
        for start, label, count in rows:
            out.setdefault(int(start), no_people())[label] = int(count)
        return out

    def purge(self, before_minute: int) -> int:
        """Drop counts older than `before_minute` (the retention); returns the rows dropped."""
        with self.lock:
            return sum(self.db.execute(f"DELETE FROM {table} WHERE minute < ?", (before_minute,)).rowcount for table in TABLES)
