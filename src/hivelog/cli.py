"""The `hivelog` command. The options of `serve` are generated from settings.SETTINGS."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from hivelog import __version__
from hivelog.cli_io import export_command, import_command
from hivelog.cli_store import describe, opened
from hivelog.settings import SETTINGS, Settings, shown_default


def _settings_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for setting in reversed(SETTINGS):
        default = shown_default(setting)
        kind: dict[str, Any] = {"is_flag": True} if setting.type is bool else {"type": setting.type}
        func = click.option(
            setting.flag,
            setting.name,
            default=None,
            help=f"{setting.help} [env {setting.env}; default {default}]",
            **kind,
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

    from hivelog.store import is_clickhouse, is_postgres, open_store

    settings = Settings.from_env(**options)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.workers < 1:
        raise click.UsageError("--workers must be at least 1")
    sqlite = not is_postgres(settings.db) and not is_clickhouse(settings.db)
    if sqlite and settings.db_path == ":memory:":
        raise click.UsageError(
            "--db :memory: cannot be served: the server's connections (and its writer "
            "process) must all open the same database; give a file path (the default is "
            "~/.hivelog/hivelog.db)"
        )
    if settings.workers > 1 and str(settings.db).startswith("chdb:"):
        raise click.UsageError(
            "--workers > 1 needs PostgreSQL, a ClickHouse server or SQLite: the embedded "
            "ClickHouse engine (chdb:) opens its data in one process only"
        )
    if settings.workers > 1 and sqlite and settings.writer_thread:
        raise click.UsageError(
            "--workers > 1 on SQLite needs the writer process (leave out --writer-thread): "
            "SQLite allows one writer, so workers writing in threads of their own would only "
            "wait for each other"
        )
    from hivelog.normalize.prices import PricesError, load_prices
    from hivelog.server import StartRefused, auth_mode, uvicorn_options

    try:  # a prices file that cannot be used stops the start here (each app configures it)
        if settings.prices:
            load_prices(settings.prices)
    except PricesError as exc:
        raise click.ClickException(str(exc)) from None

    checking = open_store(settings)
    checking.open()
    try:
        active = len(checking.active_keys())
        mode = auth_mode(settings, active, closed=not active and checking.keys_closed())
    except StartRefused as refused:
        raise click.ClickException(str(refused)) from None
    finally:
        checking.close()
    grpc = f", OTLP/gRPC on port {settings.grpc_port}" if settings.grpc_port else ""
    click.echo(
        f"hivelog {__version__} on http://{settings.host}:{settings.port}{grpc} "
        f"(database {describe(settings)}, {settings.workers} worker(s))\n{mode}",
        err=True,
    )
    common = uvicorn_options(settings)
    from hivelog.ingest.writer_process import WRITER_SOCKET_ENV, SharedWriter

    os.environ.pop(WRITER_SOCKET_ENV, None)  # only this process's own SharedWriter may set it
    if settings.workers == 1:
        from hivelog.app import create_app

        uvicorn.run(create_app(settings), **common)
        return
    # N worker processes each build the app from HIVELOG_* (uvicorn imports the factory in
    # every worker; this process, which serves nothing, never imports it); migrations run
    # once here, before any worker starts.
    migrating = open_store(settings)
    migrating.open()
    migrating.close()
    share = settings.worker_share()
    for setting in SETTINGS:
        value = getattr(share, setting.name)
        if value is not None:
            os.environ[setting.env] = str(value)
    if not sqlite:
        uvicorn.run("hivelog.app:app_from_env", factory=True, workers=settings.workers, **common)
        return
    writer = SharedWriter(settings.db_path)  # one for all workers: SQLite takes one writer
    writer.start()
    os.environ[WRITER_SOCKET_ENV] = writer.address
    try:
        uvicorn.run("hivelog.app:app_from_env", factory=True, workers=settings.workers, **common)
    finally:
        writer.stop()


@main.command()
@click.option(
    "--prices", "prices_file", default=None, help="Prices file (default: HIVELOG_PRICES)."
)
@click.argument("models", nargs=-1)
def prices(prices_file: str | None, models: tuple[str, ...]) -> None:
    """The prices calls are stored with, in USD per million tokens, and where each comes from.

    With MODEL names: the price of each (exit status 1 if one has none). Without: every
    entry of the prices file, then every model of genai-prices' table.
    """
    from hivelog.cli_prices import price_rows, print_rows
    from hivelog.normalize.prices import PricesError

    file = prices_file if prices_file is not None else Settings.from_env().prices
    try:
        rows, missing = price_rows(file, list(models))
    except PricesError as exc:
        raise click.ClickException(str(exc)) from None
    print_rows(rows)
    if missing:
        raise click.ClickException(
            f"no price for {', '.join(missing)}: calls of it are stored unpriced; "
            "add it to a prices file (--prices)"
        )


@main.command()
@click.option(
    "--db", "db", default=None, help="Database (default: HIVELOG_DB or ~/.hivelog/hivelog.db)."
)
@click.option(
    "--cluster",
    "cluster",
    default=None,
    help="ClickHouse: create the tables ON CLUSTER with Replicated engines behind Distributed "
    "tables (default: HIVELOG_CLICKHOUSE_CLUSTER; none = one node).",
)
@click.option(
    "--print-sql",
    is_flag=True,
    help="ClickHouse: print the schema's statements (as --cluster spells them) and exit "
    "without connecting.",
)
def migrate(db: str | None, cluster: str | None, print_sql: bool) -> None:
    """Apply pending schema migrations (also done automatically at start); creates the
    database if it does not exist."""
    if cluster is not None:
        os.environ["HIVELOG_CLICKHOUSE_CLUSTER"] = cluster
    if print_sql:
        from hivelog.store.clickhouse import ClickHouseStore

        chosen = Settings.from_env(db=db).clickhouse_cluster
        for name, found in ClickHouseStore("chdb:", cluster=chosen).schema_statements():
            click.echo(f"-- migration {name}")
            for statement in found:
                click.echo(statement.strip() + ";\n")
        return
    with opened(db, create=True) as (_, label):  # opening applies what is missing
        pass
    click.echo(f"database {label} is up to date", err=True)


@main.group()
def keys() -> None:
    """API keys: each scoped to one project; stored hashed, shown once."""


_db_option = click.option(
    "--db", "db", default=None, help="Database (default: HIVELOG_DB or ~/.hivelog/hivelog.db)."
)


@keys.command("create")
@click.option("--project", required=True, help="The project the key reads and writes.")
@click.option("--name", default=None, help="A label to tell keys apart in `keys list`.")
@_db_option
def keys_create(project: str, name: str | None, db: str | None) -> None:
    """Create a key for PROJECT (created if new) and print it: it is not shown again.
    Creates the database if it does not exist yet, so keys can be made before a first start."""
    from hivelog.auth import new_key
    from hivelog.routes.http import project_name_problem

    problem = project_name_problem(project)
    if problem is not None:
        raise click.BadParameter(problem, param_hint="--project")
    with opened(db, create=True) as (store, label):
        made = new_key()
        key = store.create_key(project, name, made.key_id, made.prefix, made.key_hash)
    click.echo(made.key)
    click.echo(
        f"key {key.key_id} for project {key.project.name!r} created in database {label}; "
        "it is shown only now. Send it as `Authorization: Bearer <key>` to a server on "
        "that database.",
        err=True,
    )


@keys.command("list")
@_db_option
def keys_list(db: str | None) -> None:
    """Every key: id, project, label, created and revoked times (never the key itself)."""
    import datetime as dt

    def when(ms: int | None) -> str:
        if not ms:
            return "-"
        return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")

    with opened(db) as (store, label):
        rows = store.list_keys()
    click.echo(f"{len(rows)} key(s) in database {label}", err=True)
    click.echo(f"{'ID':10} {'PREFIX':13} {'PROJECT':20} {'NAME':16} {'CREATED':17} REVOKED")
    for k in rows:
        click.echo(
            f"{k.key_id:10} {k.prefix:13} {k.project.name:20} {k.name or '-':16} "
            f"{when(k.created_at):17} {when(k.revoked_at)}"
        )


@keys.command("revoke")
@click.argument("key_id")
@_db_option
def keys_revoke(key_id: str, db: str | None) -> None:
    """Revoke KEY_ID; a running server refuses it within a second. Revoking the last key does
    not open the server: it refuses every request until a key is created or `keys open`."""
    with opened(db) as (store, label):
        done = store.revoke_key(key_id.removeprefix("hl_"))
        left = len(store.active_keys())
    if not done:
        raise click.ClickException(
            f"no active key {key_id!r} in database {label} (see `hivelog keys list`)"
        )
    click.echo(f"key {key_id} revoked in database {label}", err=True)
    if not left:
        click.echo(
            "that was the last active key: servers on this database now refuse every request "
            "until a key is created (`hivelog keys create`) or you run `hivelog keys open`",
            err=True,
        )


@keys.command("open")
@_db_option
def keys_open(db: str | None) -> None:
    """Let a database whose keys were all revoked run without keys again.

    A database that has had keys stays closed when its last key is revoked: every request gets
    401. This records the explicit choice to open it: a server on loopback then runs open (any
    local process may read and write every project) until a key is created again; one beyond
    loopback still needs --insecure. Running servers follow within a second.
    """
    with opened(db) as (store, label):
        active = len(store.active_keys())
        done = not active and store.open_without_keys()
    if not done:
        raise click.ClickException(
            f"{active or 'some'} API key(s) are active, so the database cannot run without keys:"
            " revoke them first (`hivelog keys list`, `hivelog keys revoke KEY_ID`)"
        )
    click.echo(
        f"database {label} opened: a loopback server runs without keys (any local "
        "process may read and write every project) until a key is created",
        err=True,
    )


@main.command("copy")
@click.option("--from", "source", required=True, help="The database to copy from (any --db).")
@click.option("--to", "target", required=True, help="The database to copy into (any --db).")
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("hivelog-copy.checkpoint"),
    show_default=True,
    help="Where progress is kept; a re-run with the same --from and --to resumes from it.",
)
@click.option("--page", default=2000, show_default=True, help="Events per read and write.")
def copy_command(source: str, target: str, checkpoint: Path, page: int) -> None:
    """Copy every project, API key, event and waiting update from one database to another
    (SQLite, PostgreSQL, ClickHouse, in any direction); resumable. Stop writers first."""
    from hivelog.copy import CopyFailed, copy_database

    if source == target:
        raise click.UsageError("--from and --to name the same database")
    with opened(source) as (src, _), opened(target, create=True) as (dst, _):
        try:
            done = copy_database(
                src, dst, source_name=source, target_name=target, checkpoint=checkpoint, page=page
            )
        except CopyFailed as exc:
            raise click.ClickException(f"{exc}; run the same command again to resume") from None
    click.echo(
        f"copied {done.projects} project(s), {done.keys} key(s), {done.events} event(s) and "
        f"{done.updates} waiting update(s){' (resumed)' if done.resumed else ''}",
        err=True,
    )


main.add_command(import_command)
main.add_command(export_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
