"""A real PostgreSQL server for the tests and benchmarks: Debian's, `initdb` in a folder as the `postgres` user (when
run as root, which the server refuses to be), on a free port, trusting local connections, fsync off. Each test or
run that asks gets a database of its own."""
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

from bench.ports import free_port


def binary(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


AVAILABLE = all(binary(b) for b in ("initdb", "pg_ctl"))


class Postgres:
    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.data = folder / "data"
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres")
        self._as_postgres(binary("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    def _as_postgres(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, cwd=self.folder)

    def start(self) -> None:
        self._as_postgres(binary("pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "-o",
                          f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(binary("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    @classmethod
    def temporary(cls) -> "Postgres":
        """A server in a new folder under /tmp (pytest's and most temporary folders are closed to the postgres user)."""
        return cls(Path(tempfile.mkdtemp(prefix="maskwatch-pg-")))

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        name = f"t{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return self.url(name)
