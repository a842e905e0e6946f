"""Shared fixtures: a real `hivelog serve` process over real HTTP on a real database.

`server` starts one process per test module on a database of its own, `fresh_server` one per
test; both run every test three times, on SQLite, on PostgreSQL and on ClickHouse's embedded
engine (the `backend` fixture; see `new_database` for how chdb is reached).
`Server.restart()` stops and starts the same database (durability tests).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
HIVELOG = str(Path(sys.executable).parent / "hivelog")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PortTaken(RuntimeError):
    """Another process bound the port between free_port() and the server's start."""


def listens_on(pid: int, port: int) -> bool:
    """Whether process `pid` holds the socket listening on 127.0.0.1:`port`. A 200 from the
    port alone does not say whose it is: another test's server (or page server) may have
    taken the port first, and the answer was its own while ours failed to bind."""
    try:
        sockets = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    except OSError:  # the process is gone, or a descriptor closed while listing
        return False
    wanted = f":{port:04X}"
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            local, state, inode = (fields := line.split())[1], fields[3], fields[9]
            if local.endswith(wanted) and state == "0A" and f"socket:[{inode}]" in sockets:
                return True  # 0A: LISTEN
    return False


class Server:
    """A `hivelog serve` subprocess; `url` is its base URL.

    OTLP/gRPC is off (`--grpc-port 0`: the default 4317 would collide between tests running
    at once) unless `grpc=True`, which gives it a free port of its own (`grpc_target`).
    """

    running: ClassVar[set[Server]] = set()  # whose logs a failed test's report shows

    def __init__(
        self,
        db: str,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        *,
        grpc: bool = False,
    ):
        self.db = db
        self.extra_args = extra_args or []
        self.env = env or {}
        self.port = free_port()
        self.grpc_port = free_port() if grpc else 0
        self._grpc_picked = grpc  # our free port: pick another if it is taken meanwhile
        if "--grpc-port" not in self.extra_args:
            self.extra_args = [*self.extra_args, "--grpc-port", str(self.grpc_port)]
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = (
            Path(db.removeprefix("chdb:")).with_suffix(".log")
            if "://" not in db
            else Path(f"/tmp/hivelog-{uuid.uuid4().hex}.log")
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc_target(self) -> str:
        assert self.grpc_port, "start the Server with grpc=True"
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, timeout: float = 90.0) -> None:
        """Start and wait for /healthz. Tests run in parallel (pytest-xdist), so the free
        port picked may be taken before the server binds it: then try another."""
        for _ in range(5):
            try:
                self._start(timeout)
                return
            except PortTaken:
                self.port = free_port()
                if self._grpc_picked:
                    self.grpc_port = free_port()
                    at = self.extra_args.index("--grpc-port") + 1
                    self.extra_args[at] = str(self.grpc_port)
        self._start(timeout)

    def _start(self, timeout: float) -> None:
        env = {**os.environ, **self.env}
        env.pop("HIVELOG_DB", None)
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        since = log.tell()  # where this start's output begins
        self.proc = subprocess.Popen(
            [HIVELOG, "serve", "--port", str(self.port), "--db", self.db, *self.extra_args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        Server.running.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                said = self.log_path.read_bytes()[since:].lower()
                if b"address already in use" in said or (
                    self._grpc_picked and b"cannot listen for otlp/grpc" in said
                ):
                    raise PortTaken(self.port)
                raise RuntimeError(f"hivelog exited early:\n{self.log()}")
            try:
                answered = httpx.get(self.url + "/healthz", timeout=1).status_code == 200
                if answered and listens_on(self.proc.pid, self.port):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"hivelog did not become ready:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        Server.running.discard(self)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test's report ends with the log tail of every server running then: a 5xx or a
    dropped connection in CI is explained by what the server said, not guessed at."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        for srv in list(Server.running):
            report.sections.append((f"hivelog server log ({srv.db})", srv.log()))


# ---- backends ------------------------------------------------------------------------------
# Every test that uses `server` or `fresh_server` runs once per backend. PostgreSQL is part of
# the contract: a missing server fails the run with this message, it is never skipped.

BACKENDS = ("sqlite", "postgres", "chdb")
PG_ADMIN_URL = os.environ.get("HIVELOG_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PG_MISSING = (
    "PostgreSQL is required for the postgres half of the test suite: expected a server at "
    "{url} (trust auth; set HIVELOG_TEST_PG to another admin URL). Start it with "
    "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`. Error: {error}"
)


def pg_admin() -> Any:
    """An autocommit connection to the admin database, or a clear test failure."""
    import psycopg

    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(PG_MISSING.format(url=PG_ADMIN_URL, error=exc), pytrace=False)


def pg_url(dbname: str) -> str:
    """PG_ADMIN_URL with another database name."""
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(PG_ADMIN_URL)
    user = info.get("user", "postgres")
    return f"postgresql://{user}@{info.get('host', '127.0.0.1')}:{info.get('port', 5432)}/{dbname}"


@contextlib.contextmanager
def new_database(backend: str, directory: Path, served: bool = True) -> Iterator[str]:
    """A new, empty database of `backend` (a file path or a postgresql:// URL); removed after.

    chdb: ClickHouse's embedded engine opens its data in one process, so by default the test
    front (tests/chdb_front.py) owns it and the database is its `clickhouse://` URL: servers,
    their workers and the CLI then share it as they would a ClickHouse server, through the
    production HTTP transport. `served=False` gives the `chdb:PATH` itself (one process)."""
    if backend == "sqlite":
        yield str(directory / "hivelog.db")
        return
    if backend == "chdb":  # the embedded ClickHouse engine, a data directory per database
        if not served:
            yield f"chdb:{directory / 'chdb'}"
            return
        with chdb_behind_http(directory / "chdb") as url:
            yield url
        return
    name = f"hivelog_test_{uuid.uuid4().hex[:16]}"
    with pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(name)
    finally:
        with pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def chdb_behind_http(directory: Path) -> Iterator[str]:
    """The embedded ClickHouse engine on `directory`, served over HTTP by the test front."""
    port = free_port()
    front = subprocess.Popen(
        [sys.executable, "-m", "tests.chdb_front", str(directory), str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert front.stdout is not None
        line = front.stdout.readline()
        assert line.strip() == b"ready", line + front.stdout.read()
        yield f"clickhouse://127.0.0.1:{port}/default"
    finally:
        front.terminate()
        front.wait(timeout=60)


def backend_fixture(names: tuple[str, ...]) -> Any:
    """A `backend` fixture over `names`, for a suite's conftest to narrow the backends."""

    @pytest.fixture(scope="module", params=names)
    def backend(request: pytest.FixtureRequest) -> str:
        name: str = request.param
        return name

    return backend


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite", "postgres" or "chdb": tests using it (or `server`, `fresh_server`) run on
    each."""
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of this module's own on `backend`."""
    with new_database(backend, tmp_path_factory.mktemp("db")) as db:
        yield db


@pytest.fixture()
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own on `backend`."""
    with new_database(backend, tmp_path) as db:
        yield db


@pytest.fixture(scope="module")
def server(database: str) -> Iterator[Server]:
    srv = Server(database)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def grpc_server(database: str) -> Iterator[Server]:
    """`server`, with OTLP/gRPC on a free port of its own (`grpc_target`)."""
    srv = Server(database, grpc=True)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture()
def fresh_server(fresh_database: str) -> Iterator[Server]:
    srv = Server(fresh_database)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture()
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


@pytest.fixture()
def project() -> str:
    """A project name of this test's own, so tests sharing a server never see each other's data."""
    return f"p-{uuid.uuid4().hex[:12]}"
