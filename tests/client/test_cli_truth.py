"""The CLI never pretends: a command that did not do its job exits non-zero and says why,
naming the server or database it tried. Run as subprocesses against real servers."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import HIVELOG, Server, free_port, pg_url
from tests.security.keyed import create_key


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`hivelog ARGS` with no HIVELOG_*/HH_* from the outer environment unless given."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HIVELOG_", "HH_"))}
    return subprocess.run(
        [HIVELOG, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**base, **(env or {})},
    )


def events_file(tmp_path: Path, n: int = 30) -> Path:
    path = tmp_path / "events.jsonl"
    sid = str(uuid.uuid4())
    lines = [{"event_type": "session", "session_id": sid, "session_name": "s"}]
    lines += [
        {"event_type": "tool", "event_name": f"t{i}", "session_id": sid, "inputs": {"i": i}}
        for i in range(n - 1)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def stored(server: Server, project: str, key: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with server.client(headers=headers) as c:
        r = c.post("/events/export", json={"project": project, "filters": [], "limit": 1})
        assert r.status_code == 200, r.text
        return int(r.json()["totalEvents"])


@pytest.fixture()
def keyed(fresh_database: str) -> Iterator[tuple[Server, str, str]]:
    """A server whose database has a key: (server, its project, the key)."""
    project = f"p-{uuid.uuid4().hex[:8]}"
    key = create_key(fresh_database, project)
    srv = Server(fresh_database)
    srv.start()
    yield srv, project, key
    srv.stop()


# ---- import against a server that refuses, or is not there ---------------------------------


def test_import_with_a_refused_key_stops_at_once(
    keyed: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, project, key = keyed
    path = events_file(tmp_path, 2000)
    for args, status in (
        ([], "401"),  # no key
        (["--api-key", "hl_00000000_not-a-real-key"], "401"),
        (["--api-key", key, "--project", "someone-else"], "403"),
    ):
        started = time.monotonic()
        done = run("import", str(path), "--url", server.url, "--batch-size", "10", *args)
        assert done.returncode != 0, done.stderr
        assert server.url in done.stderr and status in done.stderr, done.stderr
        assert "skipped" not in done.stderr and "sent 0" not in done.stderr, done.stderr
        assert time.monotonic() - started < 60, "the import went on after the refusal"
    assert stored(server, project, key) == 0
    ok = run("import", str(path), "--url", server.url, "--api-key", key)
    assert ok.returncode == 0, ok.stderr
    assert stored(server, project, key) == 2000


def test_import_and_export_name_a_server_that_cannot_be_reached(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    path = events_file(tmp_path)
    started = time.monotonic()
    done = run("import", str(path), "--url", url)
    assert done.returncode != 0
    assert f"cannot reach {url}" in done.stderr and "connection refused" in done.stderr
    assert "sent 0" not in done.stderr
    assert time.monotonic() - started < 30, "an absent server was retried as if it were busy"
    out = tmp_path / "out.jsonl"
    done = run("export", "--url", url, "-o", str(out))
    assert done.returncode != 0
    assert f"cannot reach {url}" in done.stderr, done.stderr
    assert not out.exists()


def test_import_default_url_follows_the_environment_as_serve_does(
    server: Server, project: str, tmp_path: Path
) -> None:
    path = events_file(tmp_path)
    by_port = run("import", str(path), "--project", project, env={"HIVELOG_PORT": str(server.port)})
    assert by_port.returncode == 0, by_port.stderr
    assert f"to http://127.0.0.1:{server.port}" in by_port.stderr
    everywhere = {"HIVELOG_HOST": "0.0.0.0", "HIVELOG_PORT": str(server.port)}
    on_all = run("import", str(path), "--project", project, "--restart", env=everywhere)
    assert on_all.returncode == 0, on_all.stderr
    wrong = {"HIVELOG_URL": server.url, "HIVELOG_PORT": str(free_port())}
    by_url = run("import", str(path), "--project", project, "--restart", env=wrong)
    assert by_url.returncode == 0, by_url.stderr
    assert stored(server, project) == 30  # the same ids each time: stored once


# ---- commands that read a database ---------------------------------------------------------


def test_reading_commands_refuse_a_missing_database_and_create_nothing(tmp_path: Path) -> None:
    db = tmp_path / "no" / "such.db"
    out = tmp_path / "out.jsonl"
    for args in (
        ["export", "--db", str(db), "-o", str(out)],
        ["keys", "list", "--db", str(db)],
        ["keys", "revoke", "abcd1234", "--db", str(db)],
    ):
        done = run(*args)
        assert done.returncode != 0, args
        assert f"no database at {db}" in done.stderr, done.stderr
        assert not db.parent.exists() and not out.exists(), args
    done = run("export", "-o", str(out), env={"HIVELOG_DB": str(db)})
    assert done.returncode != 0 and f"no database at {db}" in done.stderr
    assert not db.parent.exists() and not out.exists()


def test_a_missing_postgres_database_is_named_not_a_traceback() -> None:
    name = f"hivelog_absent_{uuid.uuid4().hex[:12]}"
    done = run("export", "--db", pg_url(name))
    assert done.returncode != 0
    assert f"cannot open database postgresql://postgres@127.0.0.1:5432/{name}" in done.stderr
    assert "Traceback" not in done.stderr


def test_export_of_a_project_the_database_lacks_is_an_error(
    fresh_database: str, tmp_path: Path
) -> None:
    create_key(fresh_database, "known")
    out = tmp_path / "out.jsonl"
    done = run("export", "--db", fresh_database, "--project", "typo", "-o", str(out))
    assert done.returncode != 0
    assert "no project 'typo'" in done.stderr and "known" in done.stderr, done.stderr
    assert not out.exists()


# ---- keys ----------------------------------------------------------------------------------


def _label(db: str) -> str:
    return db if "://" in db else str(Path(db).absolute())


def test_keys_commands_say_which_database(fresh_database: str) -> None:
    label = _label(fresh_database)
    made = run("keys", "create", "--project", "chatbot", "--db", fresh_database)
    assert made.returncode == 0, made.stderr
    assert f"in database {label}" in made.stderr
    key_id = made.stdout.strip().split("_")[1]
    listed = run("keys", "list", "--db", fresh_database)
    assert f"1 key(s) in database {label}" in listed.stderr and key_id in listed.stdout
    revoked = run("keys", "revoke", key_id, "--db", fresh_database)
    assert revoked.returncode == 0 and f"revoked in database {label}" in revoked.stderr
    again = run("keys", "revoke", key_id, "--db", fresh_database)
    assert again.returncode != 0 and label in again.stderr


def test_keys_create_refuses_a_project_no_request_can_name(tmp_path: Path) -> None:
    db = tmp_path / "keys.db"
    for bad in ("", "\udcff"):  # empty means `default` to the server; not UTF-8 text
        done = run("keys", "create", "--project", bad, "--db", str(db))
        assert done.returncode == 2, done.stderr
        assert "--project" in done.stderr and "project name" in done.stderr, done.stderr
        assert not db.exists()
    ok = run("keys", "create", "--project", " spaced ", "--db", str(db))  # the server takes it
    assert ok.returncode == 0, ok.stderr
