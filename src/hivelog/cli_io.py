"""`hivelog import` and `hivelog export`: move events in and out as JSONL (or CSV in).

Import reads one event, session or model event per line (HoneyHive field names), and sends
them through the batch routes with the client's own batching, retries and idempotent ids:
a line without an `event_id` gets one derived from its line number and text, so re-running
an import (after a crash, a network failure, a Ctrl-C) never stores anything twice, and a
checkpoint file lets the re-run skip what the server already acknowledged. Export writes
exactly the events the export route returns, one per line, which import reads back unchanged.
"""

from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import hashlib
import io
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
import msgspec
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from hivelog.event import JSON_FIELDS

if TYPE_CHECKING:  # the client is imported when used: `hivelog serve` must not need it
    from hivelog_client import RetryPolicy
    from hivelog_client._http import Transport

    from hivelog.store.base import Project, Store

ID_NAMESPACE = uuid.UUID("5b0c5f7e-6d1c-4a53-9a35-6b1f2f0f3c1e")
EVENT_TYPES = ("model", "tool", "chain", "generic", "session")
OBJECT_FIELDS = JSON_FIELDS
# Keys only the model route understands: a line with one of them goes to /events/model/batch.
MODEL_KEYS = ("model", "model_name", "messages", "response", "usage", "provider")
# CSV cells holding JSON (objects and lists), and numbers.
JSON_CELLS = (*OBJECT_FIELDS, "children_ids", "messages", "response", "usage", "hyperparameters",
              "template", "template_inputs", "tools", "response_format")  # fmt: skip
NUMBER_CELLS = ("start_time", "end_time", "duration", "cost")
MAX_REPORTED = 50  # bad lines listed one by one; the rest are only counted
# Statuses that are about the lines sent (a batch refused with one is split to find the bad
# line); any other refusal (401, 403, 404, …) is about the server or the key: the import stops.
LINE_STATUSES = (400, 413, 422)

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class BadLine(ValueError):
    pass


class Stopped(Exception):
    """Nothing more can be sent or read: the server cannot be reached, refuses the key, or
    has not the routes asked for. Said at once rather than after every line fails."""


@dataclasses.dataclass
class Item:
    line: int
    kind: str  # "event" or "model"
    body: dict[str, Any]


@dataclasses.dataclass
class Summary:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    resumed_from: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)
    last_failure: str = ""

    def bad(self, line: int, why: str) -> None:
        self.skipped += 1
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(f"line {line}: {why}")


# ---- reading ---------------------------------------------------------------------------------


def _derived_id(line: int, raw: str, salt: str = "") -> str:
    digest = hashlib.sha1(raw.encode("utf-8", "replace")).hexdigest()
    return str(uuid.uuid5(ID_NAMESPACE, f"{salt}{line}:{digest}"))


def to_item(obj: Any, line: int, raw: str) -> Item:
    """One decoded line → what the batch routes take; BadLine says what is wrong with it."""
    if not isinstance(obj, dict):
        raise BadLine("expected a JSON object")
    body = {k: v for k, v in obj.items() if v is not None}
    for name in OBJECT_FIELDS:
        if name in body and not isinstance(body[name], dict):
            raise BadLine(f"{name} must be an object")
    for name in ("start_time", "end_time", "duration"):
        if name in body and (
            isinstance(body[name], bool) or not isinstance(body[name], (int, float, str))
        ):
            raise BadLine(f"{name} must be a number or a date string")
    kind = body.get("event_type")
    if kind is None and "session_name" in body and not any(k in body for k in MODEL_KEYS):
        kind = body["event_type"] = "session"
    is_model = any(k in body for k in MODEL_KEYS) and kind in (None, "model")
    if not is_model and kind not in EVENT_TYPES:
        raise BadLine("event_type is missing" if kind is None else f"unknown event_type {kind!r}")
    if kind == "session":
        name = body.pop("session_name", None)
        if name is not None:
            body.setdefault("event_name", name)
        sid = body.get("session_id") or body.get("event_id") or _derived_id(line, raw)
        body["session_id"] = body["event_id"] = sid
    else:
        body.setdefault("event_id", _derived_id(line, raw))
        body.setdefault("session_id", _derived_id(line, raw, "session:"))
    return Item(line, "model" if is_model else "event", body)


def _csv_cell(name: str, text: str, line: int) -> Any:
    if name in JSON_CELLS:
        try:
            return json.loads(text)
        except ValueError:
            raise BadLine(f"column {name} is not valid JSON") from None
    if name in NUMBER_CELLS:
        try:
            number = float(text)
        except ValueError:
            return text  # an ISO date; the server parses it
        return int(number) if number.is_integer() else number
    return text


def read_items(
    path: Path, fmt: str, start_line: int, summary: Summary
) -> Iterator[tuple[Item, int]]:
    """(item, bytes read so far) for each good line after `start_line`; bad ones reported."""
    with open(path, "rb") as raw:
        if fmt == "csv":
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            reader = csv.DictReader(text)
            line = 1
            for row in reader:
                line = reader.line_num
                if line <= start_line:
                    continue
                try:
                    obj = {k: _csv_cell(k, v, line) for k, v in row.items() if k and v != ""}
                    yield to_item(obj, line, repr(sorted(row.items()))), raw.tell()
                except BadLine as exc:
                    summary.bad(line, str(exc))
            return
        for line, data in enumerate(raw, start=1):
            if line <= start_line or not data.strip():
                continue
            try:
                obj = _decode(data)
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                summary.bad(line, f"not valid JSON ({exc})")
                continue
            try:
                yield to_item(obj, line, data.decode("utf-8", "replace")), raw.tell()
            except BadLine as exc:
                summary.bad(line, str(exc))


# ---- sending ---------------------------------------------------------------------------------


class Sender:
    """Sends chunks through the batch routes; a refused batch is split to find its bad lines."""

    def __init__(self, transport: Transport, project: str | None, retry: RetryPolicy) -> None:
        self.transport = transport
        self.project = project
        self.retry = retry
        self.last_failure = ""  # why the last batch that used up its retries failed

    def send_chunk(self, items: list[Item]) -> tuple[int, int, list[tuple[int, str]]]:
        """(sent, failed, [(line, why) refused]) for one chunk, grouped by session."""
        items = sorted(items, key=lambda i: i.body["session_id"])  # stable: file order kept
        sent = failed = 0
        refused: list[tuple[int, str]] = []
        for kind in ("event", "model"):
            group = [i for i in items if i.kind == kind]
            if group:
                s, f, r = self._send(group, kind)
                sent, failed = sent + s, failed + f
                refused.extend(r)
        return sent, failed, refused

    def _send(self, items: list[Item], kind: str) -> tuple[int, int, list[tuple[int, str]]]:
        from hivelog_client import HivelogError
        from hivelog_client._http import send

        key, path = ("events", "/events/batch") if kind == "event" else (
            "model_events", "/events/model/batch")  # fmt: skip
        body: dict[str, Any] = {key: [i.body for i in items], "is_single_session": False}
        if self.project:
            body["project"] = self.project
        try:
            send(self.transport, "POST", path, _encode(body), self.retry)
        except HivelogError as exc:
            if exc.status is None:
                self.last_failure = str(exc)
                return 0, len(items), []
            if exc.status not in LINE_STATUSES:
                raise Stopped(_refusal(self.transport.url, exc)) from None
            if len(items) == 1:
                return 0, 0, [(i.line, f"refused by the server: {exc}") for i in items]
            half = len(items) // 2
            a = self._send(items[:half], kind)
            b = self._send(items[half:], kind)
            return a[0] + b[0], a[1] + b[1], a[2] + b[2]
        return len(items), 0, []


def _refusal(url: str, exc: Exception) -> str:
    status = getattr(exc, "status", None)
    if status in (401, 403):
        why = "refused the API key" if status == 401 or "key" in str(exc).lower() else "refused"
        return f"{url} {why} ({exc}); give the right key with --api-key or HIVELOG_API_KEY"
    if status == 404:
        return f"{url} has no batch route ({exc}): is it a hivelog server? (--url, HIVELOG_URL)"
    return f"{url} refused the import ({exc})"


def check_reachable(transport: Transport) -> None:
    """Stopped naming the URL if no HTTP server answers there. One attempt: a server
    that is not there at the start is a wrong address, not a hiccup to retry for a minute."""
    import http.client

    from hivelog_client._http import describe_network_error

    try:
        transport.request("GET", "/healthz", b"")
    except (OSError, http.client.HTTPException) as exc:
        raise Stopped(f"cannot reach {transport.url}: {describe_network_error(exc)}") from None
    finally:
        transport.close()


def _save_checkpoint(checkpoint: Path, state: dict[str, Any]) -> None:
    """Write the checkpoint whole or not at all (a kill mid-write must not leave it empty)."""
    partial = checkpoint.with_name(checkpoint.name + ".tmp")
    partial.write_text(json.dumps(state))
    os.replace(partial, checkpoint)


def _checkpoint_path(path: Path) -> Path:
    return path.with_name(path.name + ".hivelog-import")


def _fingerprint(path: Path, url: str, project: str | None) -> str:
    """Same file (size and first 64 KiB), same destination: only then may a re-run skip."""
    with open(path, "rb") as f:
        head = f.read(65536)
    digest = hashlib.sha1(head).hexdigest()
    return f"{path.stat().st_size}:{digest}:{url}:{project}"


def import_file(
    path: Path,
    *,
    url: str,
    project: str | None,
    api_key: str | None = None,
    fmt: str | None = None,
    batch_size: int = 500,
    workers: int = 4,
    resume: bool = True,
    retry: RetryPolicy | None = None,
    console: Console | None = None,
) -> Summary:
    """Import `path`; the checkpoint file next to it records the last acknowledged line."""
    from hivelog_client import RetryPolicy
    from hivelog_client._http import Transport

    fmt = fmt or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    console = console or Console(stderr=True)
    summary = Summary()
    checkpoint = _checkpoint_path(path)
    fingerprint = _fingerprint(path, url, project)
    if resume and checkpoint.exists():
        try:
            state = json.loads(checkpoint.read_text())
            if state.get("fingerprint") == fingerprint:
                summary.resumed_from = int(state["line"])
        except (ValueError, KeyError, OSError):
            pass
    transport = Transport(url, api_key, timeout=60.0)
    check_reachable(transport)
    sender = Sender(transport, project, retry or RetryPolicy())
    total = path.stat().st_size
    progress = Progress(
        TextColumn("[bold]import[/bold]"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[events]:,} events · {task.fields[rate]:,.0f} events/s"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    started = time.monotonic()
    done_line = summary.resumed_from
    # Chunks finish out of order; the checkpoint only advances over a contiguous prefix.
    pending: dict[int, tuple[concurrent.futures.Future[Any], int, int]] = {}
    next_to_finish = 0
    chunk_no = 0
    clean = True

    def finish(task: Any, block: bool) -> None:
        nonlocal next_to_finish, done_line, clean
        while next_to_finish in pending:
            future, last_line, position = pending[next_to_finish]
            if not block and not future.done():
                return
            sent, failed, refused = future.result()
            del pending[next_to_finish]
            next_to_finish += 1
            summary.sent += sent
            summary.failed += failed
            for line, why in refused:
                summary.bad(line, why)
            if failed:
                clean = False
            if clean:
                done_line = last_line
                _save_checkpoint(checkpoint, {"fingerprint": fingerprint, "line": done_line})
            rate = summary.sent / max(time.monotonic() - started, 1e-6)
            progress.update(task, completed=position, events=summary.sent, rate=rate)

    with progress, concurrent.futures.ThreadPoolExecutor(workers) as pool:
        task = progress.add_task("import", total=total, events=0, rate=0.0)
        chunk: list[Item] = []
        position = 0
        try:
            for item, position in read_items(path, fmt, summary.resumed_from, summary):
                chunk.append(item)
                if len(chunk) >= batch_size:
                    future = pool.submit(sender.send_chunk, chunk)
                    pending[chunk_no] = (future, item.line, position)
                    chunk_no += 1
                    chunk = []
                    finish(task, block=len(pending) > workers * 2)
            if chunk:
                last = chunk[-1].line
                pending[chunk_no] = (pool.submit(sender.send_chunk, chunk), last, total)
            finish(task, block=True)
        except Stopped:
            pool.shutdown(wait=True, cancel_futures=True)  # batches not yet sent never will be
            raise
        progress.update(task, completed=total)
    summary.last_failure = sender.last_failure
    if clean and summary.failed == 0:
        checkpoint.unlink(missing_ok=True)
        checkpoint.with_name(checkpoint.name + ".tmp").unlink(missing_ok=True)
    return summary


# ---- export ----------------------------------------------------------------------------------


def _date_range(since: str | None, until: str | None) -> dict[str, Any] | None:
    if since is None and until is None:
        return None
    out: dict[str, Any] = {}
    if since is not None:
        out["$gte"] = int(since) if since.isdigit() else since
    if until is not None:
        out["$lte"] = int(until) if until.isdigit() else until
    return out


def export_from_url(
    out: IO[bytes],
    *,
    url: str,
    project: str | None,
    api_key: str | None = None,
    since: str | None = None,
    until: str | None = None,
    page_size: int = 7500,
) -> int:
    """Page through the export route; returns the number of events written."""
    from hivelog_client import RetryPolicy
    from hivelog_client._http import Transport, send

    transport = Transport(url, api_key, timeout=120.0)
    retry = RetryPolicy()
    written = 0
    for page in range(1, 10**9):
        body: dict[str, Any] = {"filters": [], "limit": page_size, "page": page}
        if project:
            body["project"] = project
        date_range = _date_range(since, until)
        if date_range:
            body["dateRange"] = date_range
        data = _decode(send(transport, "POST", "/events/export", _encode(body), retry).body)
        events = data.get("events") or []
        for event in events:
            out.write(_encode(event) + b"\n")
        written += len(events)
        if len(events) < page_size or written >= int(data.get("totalEvents") or 0):
            break
    transport.close()
    return written


def export_project(store: Store, label: str, project: str | None) -> Project:
    """The project to export, or an error listing those the database has: an empty export
    would say "no events" where the truth is "wrong name"."""
    from hivelog.routes.http import DEFAULT_PROJECT

    name = project or DEFAULT_PROJECT
    found = store.find_project(name)
    if found is None:
        known = ", ".join(sorted(p.name for p in store.list_projects())) or "none"
        raise click.ClickException(f"no project {name!r} in database {label} (projects: {known})")
    return found


def export_from_store(
    out: IO[bytes],
    store: Store,
    project: Project,
    *,
    since: str | None = None,
    until: str | None = None,
    page_size: int = 7500,
) -> int:
    """Read the store directly (no server needed); the same JSON the export route sends."""
    from hivelog.query.events import event_dict
    from hivelog.query.sessions import read_event_chunks
    from hivelog.wire.rest import DateRange

    date_range = _date_range(since, until)
    dr = DateRange(gte=date_range.get("$gte"), lte=date_range.get("$lte")) if date_range else None
    written = 0
    for events in read_event_chunks(store, project, None, dr, chunk=page_size):
        for event in events:
            out.write(_encode(event_dict(event, project)) + b"\n")
        written += len(events)
    return written


def open_output(name: str | None) -> IO[bytes]:
    if name is None or name == "-":
        return os.fdopen(os.dup(1), "wb")
    return open(name, "wb")


# ---- the commands (registered in hivelog.cli) ------------------------------------------------

_URL_HELP = (
    "Server URL (default: HIVELOG_URL, else http://HIVELOG_HOST:HIVELOG_PORT as `serve` "
    "listens, else http://127.0.0.1:8080)."
)


def default_url(url: str | None) -> str:
    """--url, else HIVELOG_URL, else where `hivelog serve` listens with the same environment
    (HIVELOG_HOST and HIVELOG_PORT; a server on every address is reached on loopback)."""
    if url:
        return url
    if os.environ.get("HIVELOG_URL"):
        return os.environ["HIVELOG_URL"]
    from hivelog.settings import Settings

    settings = Settings.from_env()
    host = settings.host if settings.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--url", default=None, help=_URL_HELP)
@click.option("--project", default=None, help="Project to import into (default: default).")
@click.option("--api-key", default=None, envvar="HIVELOG_API_KEY", help="Bearer API key.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default=None,
    help="Input format (default: by extension, .csv is CSV, anything else JSONL).",
)
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--workers",
    default=4,
    show_default=True,
    type=click.IntRange(1, 32),
    help="Batches in flight at once.",
)
@click.option("--restart", is_flag=True, help="Ignore the checkpoint of an earlier run.")
def import_command(
    file: Path,
    url: str | None,
    project: str | None,
    api_key: str | None,
    fmt: str | None,
    batch_size: int,
    workers: int,
    restart: bool,
) -> None:
    """Import events from a JSONL or CSV file (HoneyHive field names), resumably.

    Each line is an event, a session (event_type session) or a model event in the shape of
    POST /events/model. Bad lines are reported with their line numbers and skipped. Re-running
    continues after the last acknowledged line; ids make any overlap harmless.
    """
    console = Console(stderr=True)
    url = default_url(url)
    try:
        summary = import_file(
            file,
            url=url,
            project=project,
            api_key=api_key,
            fmt=fmt,
            batch_size=batch_size,
            workers=workers,
            resume=not restart,
            console=console,
        )
    except Stopped as stopped:
        raise click.ClickException(f"import stopped: {stopped}") from None
    for problem in summary.problems:
        console.print(f"[yellow]skipped[/yellow] {problem}", highlight=False, soft_wrap=True)
    if summary.skipped > len(summary.problems):
        console.print(f"… and {summary.skipped - len(summary.problems)} more bad lines")
    resumed = f" (resumed after line {summary.resumed_from})" if summary.resumed_from else ""
    console.print(
        f"sent {summary.sent:,}, skipped {summary.skipped:,}, failed {summary.failed:,} "
        f"to {url}{resumed}",
        highlight=False,
        soft_wrap=True,
    )
    if summary.failed:
        console.print(
            f"some batches failed after retries ({summary.last_failure}); "
            "run the same command again to resume",
            highlight=False,
            soft_wrap=True,
        )
        raise SystemExit(1)


@click.command("export")
@click.option("--db", default=None, help="Read this database directly (default: HIVELOG_DB).")
@click.option("--url", default=None, help="Read through a server's export route instead.")
@click.option("--project", default=None, help="Project to export (default: default).")
@click.option("--api-key", default=None, envvar="HIVELOG_API_KEY", help="Bearer key for --url.")
@click.option("--since", default=None, help="Only events starting at or after (ms or ISO date).")
@click.option("--until", default=None, help="Only events starting at or before (ms or ISO date).")
@click.option("-o", "--output", default=None, help="Output file (default: standard output).")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
def export_command(
    db: str | None,
    url: str | None,
    project: str | None,
    api_key: str | None,
    since: str | None,
    until: str | None,
    output: str | None,
    fmt: str,
) -> None:
    """Export events as JSONL, one per line, which `hivelog import` reads back unchanged."""
    if db and url:
        raise click.UsageError("give --db or --url, not both")
    from hivelog_client import HivelogError

    from hivelog.cli_store import opened
    from hivelog.errors import HivelogError as ServerError

    try:
        if url:
            from hivelog_client._http import Transport

            check_reachable(Transport(url, api_key))  # before the output file is created
            with open_output(output) as out:
                n = export_from_url(
                    out, url=url, project=project, api_key=api_key, since=since, until=until
                )
        else:
            # The database and the project are checked before the output file is created.
            with opened(db) as (store, label):
                found = export_project(store, label, project)
                with open_output(output) as out:
                    n = export_from_store(out, store, found, since=since, until=until)
    except Stopped as stopped:
        raise click.ClickException(f"export stopped: {stopped}") from None
    except (ServerError, HivelogError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"exported {n:,} events", err=True)
