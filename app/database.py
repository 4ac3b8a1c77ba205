"""The one database behind the service: SQLite, a file next to the service (the default), or PostgreSQL, shared by
every replica, when MASKWATCH_DATABASE_URL says postgresql://. SQLAlchemy Core speaks to both through one engine;
the schema is versioned by Alembic (app/migrations) and brought up to date at start-up under a lock, so that
replicas (or workers) starting together migrate once."""
import fcntl
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.pool import StaticPool

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATE_LOCK = 0x6D61736B77  # pg_advisory_xact_lock key for migrations: "maskw"
CONNECT_TIMEOUT_S = 3  # a database that does not answer is waited on this long, then retried in the background


def database_url(url: str | None, sqlite_path: Path | str) -> str:
    """The SQLAlchemy URL: MASKWATCH_DATABASE_URL with psycopg 3 named as the driver, or the SQLite file. Raises
    ValueError, without the URL (it holds a password), for one that is not PostgreSQL's."""
    if url is None:
        return "sqlite://" if str(sqlite_path) == ":memory:" else f"sqlite:///{sqlite_path}"
    for scheme in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    raise ValueError("MASKWATCH_DATABASE_URL: expected postgresql://user:password@host:port/database")


def open_engine(url: str) -> Engine:
    """An engine for `url`; nothing is connected yet. SQLite files run in WAL mode so readers never wait for the writer."""
    if url.startswith("sqlite"):
        memory = url == "sqlite://"
        if not memory:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               poolclass=StaticPool if memory else None)
        event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA journal_mode=WAL"))
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4, pool_timeout=CONNECT_TIMEOUT_S,
                         connect_args={"connect_timeout": CONNECT_TIMEOUT_S})


def migrate(engine: Engine) -> None:
    """Bring the schema to Alembic's head: on PostgreSQL under a transaction-scoped advisory lock, on SQLite under a
    lock file beside the database. A database the service made before Alembic is taken over as it is."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATE_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        return
    path = engine.url.database
    with open(f"{path}.migrate.lock" if path else "/dev/null", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


def describe(err: BaseException) -> str:
    """A database error in one line, without the SQL or its parameters (SQLAlchemy's message carries both)."""
    cause = getattr(err, "orig", None) or err
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"
