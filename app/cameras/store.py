"""The cameras clients added, and the people counted per camera and minute, in one SQLite file, so a restart
resumes both. Calls come from the event loop's thread; each is a few small statements."""
import json
import sqlite3
import threading
from pathlib import Path

from models.labels import CLASSES

LABELS = (*CLASSES, "uncertain")
SCHEMA = """
CREATE TABLE IF NOT EXISTS cameras (id TEXT PRIMARY KEY, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (camera TEXT NOT NULL, minute INTEGER NOT NULL, label TEXT NOT NULL,
                                   count INTEGER NOT NULL, PRIMARY KEY (camera, minute, label));
"""


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
            self.db.execute("DELETE FROM people WHERE camera = ?", (camera,))

    def add_person(self, camera: str, minute: int, label: str) -> None:
        with self.lock:
            self.db.execute("INSERT INTO people VALUES (?, ?, ?, 1) ON CONFLICT (camera, minute, label) "
                            "DO UPDATE SET count = count + 1", (camera, minute, label))

    def counts(self, camera: str, since_minute: int, until_minute: int) -> dict[str, int]:
        """People by label counted in [since_minute, until_minute)."""
        with self.lock:
            rows = self.db.execute("SELECT label, SUM(count) FROM people WHERE camera = ? AND minute >= ? AND minute < ? "
                                   "GROUP BY label", (camera, since_minute, until_minute)).fetchall()
        found = dict(rows)
        return {label: int(found.get(label, 0)) for label in LABELS}

    def series(self, camera: str, since_minute: int, until_minute: int, bucket_minutes: int) -> dict[int, dict[str, int]]:
        """People by label per bucket, keyed by each bucket's first minute (buckets start at `since_minute`)."""
        with self.lock:
            rows = self.db.execute(
                "SELECT ? + ((minute - ?) / ?) * ?, label, SUM(count) FROM people WHERE camera = ? AND minute >= ? AND minute < ? "
                "GROUP BY 1, 2", (since_minute, since_minute, bucket_minutes, bucket_minutes, camera, since_minute, until_minute)).fetchall()
        out: dict[int, dict[str, int]] = {}
        for start, label, count in rows:
            out.setdefault(int(start), dict.fromkeys(LABELS, 0))[label] = int(count)
        return out

    def purge(self, before_minute: int) -> int:
        """Drop counts older than `before_minute` (the retention); returns the rows dropped."""
        with self.lock:
            return self.db.execute("DELETE FROM people WHERE minute < ?", (before_minute,)).rowcount
