"""The `hivelog` command. Options of `serve` are generated from settings.SETTINGS."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import click

from hivelog import __version__
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

    from hivelog.app import create_app

    settings = Settings.from_env(**options)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    click.echo(
        f"hivelog {__version__} on http://{settings.host}:{settings.port} "
        f"(database {settings.db_path})",
        err=True,
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=10,
    )


@main.command()
@click.option(
    "--db", "db", default=None, help="Database (default: HIVELOG_DB or ~/.hivelog/hivelog.db)."
)
def migrate(db: str | None) -> None:
    """Apply pending schema migrations (also done automatically at start)."""
    from hivelog.app import open_store

    settings = Settings.from_env(db=db)
    store = open_store(settings)
    store.open()
    store.close()
    click.echo(f"database {settings.db_path} is up to date", err=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
