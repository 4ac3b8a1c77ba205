"""Copy a SQLite camera database (MASKWATCH_CAMERAS_DB) into the database of MASKWATCH_DATABASE_URL, when a site
moves from one machine to replicas sharing PostgreSQL:

    MASKWATCH_DATABASE_URL=postgresql://user:password@host/db python -m app.cameras.import_sqlite /data/cameras.db

The SQLite file is opened read-only. Everything is copied in one transaction: it all lands, or nothing does. A row
the database has already (a camera of the same id, a count of the same camera, minute and label) is kept as it
is and the file's is skipped, so running it twice copies nothing the second time."""
import argparse
import sqlite3
import sys
from pathlib import Path

from app.cameras.store import CameraStore, alert_state, audit, cameras, counted, crossings, people, zone_people
from app.database import database_url, describe
from app.settings import Settings

TABLES = (cameras, people, zone_people, crossings, counted, alert_state, audit)


def read_rows(path: Path, table: str) -> list[dict]:
    """The rows of `table` in the SQLite file; none where the file's version has no such table."""
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    source.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in source.execute(f"SELECT * FROM {table}")]
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            return []
        raise
    finally:
        source.close()


def copy(path: Path, store: CameraStore) -> dict[str, tuple[int, int]]:
    """Per table: (rows copied, rows skipped because the database had them)."""
    report = {}
    with store.engine.begin() as db:
        for table in TABLES:
            rows = read_rows(path, table.name)
            if table is audit:
                rows = [{k: v for k, v in row.items() if k != "id"} for row in rows]  # the database numbers its own
                statement = table.insert()
            else:
                statement = store.insert(table).on_conflict_do_nothing()
            copied = sum(store.inserted(db, statement.values(**row), table) for row in rows)
            report[table.name] = (copied, len(rows) - copied)
            print(f"{table.name}: {copied} rows copied, {len(rows) - copied} already there", flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sqlite", type=Path, help="the SQLite file, e.g. /data/cameras.db")
    args = parser.parse_args()
    settings = Settings()
    if settings.database_url is None:
        sys.exit("MASKWATCH_DATABASE_URL is not set: say which PostgreSQL to copy into")
    if not args.sqlite.is_file():
        sys.exit(f"{args.sqlite}: no such file")
    try:
        store = CameraStore(database_url(settings.database_url.get_secret_value(), ""))
        copy(args.sqlite, store)
    except (sqlite3.DatabaseError, ValueError) as err:
        sys.exit(f"{args.sqlite}: {err}")
    except Exception as err:  # the database: nothing was written
        sys.exit(f"the database: {describe(err)}; nothing was copied")
    store.close()


if __name__ == "__main__":
    main()
