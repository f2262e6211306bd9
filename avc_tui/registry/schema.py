"""Schema versions of the registry, managed with Alembic (no alembic.ini: configured here).

Opening a registry creates a new database at the newest revision, upgrades an older one in place,
and refuses one written by a newer avc.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError

from avc_tui.registry.errors import RegistryError
from avc_tui.registry.models import Base

if TYPE_CHECKING:
    from alembic.config import Config


MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest revision in migrations/versions (a test checks that they agree). Knowing it without
# Alembic lets a registry that is already current open without importing Alembic at all.
HEAD = "0006"


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision, as Alembic reads it from the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The database's revision; None for a database without avc's tables."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database of ``engine`` to ``revision``."""
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


AVC_TABLES = frozenset({"alembic_version", *Base.metadata.tables})


def refuse_foreign(engine: Engine) -> None:
    """Raise ``RegistryError`` when a database without avc's schema already holds tables of
    its own: it belongs to another program, and avc must not add its tables to it. Reads only."""
    with engine.connect() as connection:
        if current_revision(connection) is not None:
            return
        tables = sorted(set(inspect(connection).get_table_names()) - AVC_TABLES)
    # avc's own tables without a revision yet: another avc process is creating the registry
    # right now (SQLite commits each CREATE TABLE), or one was killed doing it.
    if tables:
        where = engine.url.database if engine.url.get_backend_name() == "sqlite" else engine.url
        shown = ", ".join(tables[:3]) + (", …" if len(tables) > 3 else "")
        raise RegistryError(f"{where} is not an avc registry: it holds other tables ({shown})",
                            hint="pass --db with an avc registry, or a new file name")


def ensure_schema(engine: Engine) -> None:
    """Bring the database to the newest revision.

    Raises ``AvcError`` (a ``RegistryError``) for a database written by a newer avc, and lets
    SQLAlchemy's ``DatabaseError`` through for a file that is not a database.
    """
    for attempt in range(5):
        with engine.connect() as connection:
            current = current_revision(connection)
        if current == HEAD:
            return
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(alembic_config())
        head = script.get_current_head()
        known = {rev.revision for rev in script.walk_revisions()}
        if current is not None and current not in known:
            raise RegistryError(
                f"the registry was written by a newer avc (schema revision {current}; this avc "
                f"knows up to {head})",
                hint="upgrade avc, or pass --db with another registry",
            )
        try:
            upgrade(engine)
            return
        except DatabaseError as exc:
            # Two processes creating a fresh registry at once: the loser sees the winner's
            # tables; look again.
            if "already exists" not in str(exc) or attempt == 4:
                raise
            time.sleep(0.2)

