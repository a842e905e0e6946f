"""The `hivelog` command. Options of `serve` are generated from settings.SETTINGS."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from hivelog import __version__
from hivelog.cli_io import export_command, import_command
from hivelog.settings import SETTINGS, Settings


def _settings_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for setting in reversed(SETTINGS):
        default = setting.default if setting.default is not None else "~/.hivelog/hivelog.db"
        func = click.option(
            setting.flag,
            setting.name,
            type=setting.type,
            default=None,
            help=f"{setting.help} [env {setting.env}; default {default}]",
        )(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hivelog")
def main() -> None:
    """hivelog: a self-hosted, HoneyHive-compatible logging server for LLM applications."""


@main.command()
@_settings_options
def serve(**options: Any) -> None:
    """Run the server (SQLite by default; data is durable before any 2xx answer)."""
    import uvicorn

    from hivelog.app import create_app, is_postgres, open_store

    settings = Settings.from_env(**options)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.workers < 1:
        raise click.UsageError("--workers must be at least 1")
    if settings.workers > 1 and not is_postgres(settings.db):
        raise click.UsageError(
            "--workers > 1 needs PostgreSQL (--db postgresql://…): SQLite allows one writer, "
            "so a second process would only wait for the first. One process on SQLite "
            "already commits many requests per transaction."
        )
    click.echo(
        f"hivelog {__version__} on http://{settings.host}:{settings.port} "
        f"(database {_display(settings)}, {settings.workers} worker(s))",
        err=True,
    )
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,
        "timeout_keep_alive": 30,
        "timeout_graceful_shutdown": 10,
    }
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **common)
        return
    # N worker processes each build the app from HIVELOG_* (uvicorn imports the factory in
    # every worker); migrations run once here, before any worker starts.
    migrating = open_store(settings)
    migrating.open()
    migrating.close()
    for setting in SETTINGS:
        value = getattr(settings, setting.name)
        if value is not None:
            os.environ[setting.env] = str(value)
    uvicorn.run("hivelog.app:app_from_env", factory=True, workers=settings.workers, **common)


def _display(settings: Settings) -> str:
    """The database without any password in it."""
    from hivelog.app import is_postgres

    if is_postgres(settings.db):
        from psycopg.conninfo import conninfo_to_dict

        assert settings.db is not None
        info = conninfo_to_dict(settings.db)
        user = f"{info['user']}@" if info.get("user") else ""
        where = f"{info.get('host', '')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
        return f"postgresql://{user}{where}"
    return settings.db_path


@main.command()
@click.option(
    "--db", "db", default=None, help="Database (default: HIVELOG_DB or ~/.hivelog/hivelog.db)."
)
def migrate(db: str | None) -> None:
    """Apply pending schema migrations (also done automatically at start)."""
    from hivelog.app import open_store

    settings = Settings.from_env(db=db)
    store = open_store(settings)
    store.open()  # applies what is missing, under a lock on PostgreSQL
    store.close()
    click.echo(f"database {_display(settings)} is up to date", err=True)


main.add_command(import_command)
main.add_command(export_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
