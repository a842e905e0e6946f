"""How CLI commands open a database, and how they name it.

A command that reads (export, keys list, keys revoke, …) must never create an empty database
where the user mistyped a path and then report "nothing there": it refuses with
"no database at PATH". Every command names the database it used, without any password, so
a user with several databases can tell which one a key went into.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import click

from hivelog.settings import Settings
from hivelog.store.base import Store


def describe(settings: Settings) -> str:
    """The database without any password in it."""
    from hivelog.store import is_clickhouse, is_postgres

    if is_clickhouse(settings.db):
        from hivelog.store.clickhouse import display

        assert settings.db is not None
        return display(settings.db)
    if is_postgres(settings.db):
        from psycopg.conninfo import conninfo_to_dict

        assert settings.db is not None
        info = conninfo_to_dict(settings.db)
        user = f"{info['user']}@" if info.get("user") else ""
        where = f"{info.get('host', '')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
        return f"postgresql://{user}{where}"
    return str(Path(settings.db_path).expanduser().absolute())


def missing(store: Store) -> str | None:
    """The path of a file database that does not exist yet, else None."""
    from hivelog.store.sqlite import SqliteStore

    if isinstance(store, SqliteStore):
        path = Path(store.path).expanduser().absolute()
        if not path.exists():
            return str(path)
    return None


@contextlib.contextmanager
def opened(db: str | None, *, create: bool = False) -> Iterator[tuple[Store, str]]:
    """(store, its description) for `--db` (else HIVELOG_DB, else the default path).

    With create=False a database that does not exist is refused before anything is made.
    A database that cannot be opened is a ClickException naming it, never a traceback.
    """
    import psycopg

    from hivelog.store import open_store

    settings = Settings.from_env(db=db)
    label = describe(settings)
    store = open_store(settings)
    absent = missing(store)
    if absent is not None and not create:
        raise click.ClickException(f"no database at {absent} (give --db or set HIVELOG_DB)")
    try:
        store.open()
    except (OSError, sqlite3.Error, psycopg.Error) as exc:
        raise click.ClickException(f"cannot open database {label}: {exc}") from None
    except Exception as exc:  # ClickHouse: e.g. a chdb: directory another process holds
        if type(exc).__name__ not in ("EngineError", "Overloaded"):
            raise
        raise click.ClickException(f"cannot open database {label}: {exc}") from None
    try:
        yield store, label
    finally:
        store.close()
