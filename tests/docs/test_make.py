"""`make test` and `make bench` install what they need themselves: on a bare machine (Python,
no Go, no Chromium, no JDK) the Makefile installs the Debian packages, says so, and CI's
.ci/run is only a caller of `make test`. Run against the real Makefile with a fake apt-get."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

from tests.conftest import ROOT

MAKE = shutil.which("make") or "/usr/bin/make"


def bare_path(tmp_path: Path, present: tuple[str, ...] = ()) -> tuple[str, Path]:
    """A PATH with only what the recipe needs besides the tools under test, an apt-get that
    records its calls, and stubs for the commands in `present`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("id", "env"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    log = tmp_path / "apt.log"
    apt = bin_dir / "apt-get"
    apt.write_text(f'#!/bin/sh\necho "DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> {log}\n')
    for name in present:
        (bin_dir / name).write_text("#!/bin/sh\n")
    for stub in bin_dir.iterdir():
        if not stub.is_symlink():
            stub.chmod(0o755)
    return str(bin_dir), log


def make(*args: str, path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path}
    return subprocess.run(
        [MAKE, "--no-print-directory", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_make_installs_what_the_tests_need_on_a_bare_machine(tmp_path: Path) -> None:
    path, log = bare_path(tmp_path)
    done = make("system-deps", path=path)
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "DEBIAN_FRONTEND=noninteractive update -qq", calls
    assert calls[1].startswith("DEBIAN_FRONTEND=noninteractive install -y"), calls
    assert set(calls[1].split()) >= {"golang-go", "chromium", "default-jdk-headless"}
    assert "golang-go chromium default-jdk-headless" in done.stdout  # it says what it installs


def test_make_installs_nothing_when_everything_is_there(tmp_path: Path) -> None:
    path, log = bare_path(tmp_path, present=("go", "chromium", "javac", "node", "npm"))
    done = make("system-deps", path=path)
    assert done.returncode == 0, done.stderr
    assert not log.exists() and "installing" not in done.stdout


def test_test_target_installs_before_it_runs() -> None:
    plan = make("-n", "-B", "test", path=os.environ["PATH"]).stdout
    assert "apt-get install" in plan and "pip install --quiet -e '.[test,dev]'" in plan
    assert plan.index("apt-get install") < plan.index("pytest")


def test_ci_run_is_a_caller_of_make_test() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[-1] == "make test"
    assert not any("apt-get" in line or "pg_ctlcluster" in line for line in lines), lines


def test_bench_installs_what_bench_imports() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bench = " ".join(extras["optional-dependencies"]["bench"])
    assert "httpx" in bench and "playwright" in bench
    for target in ("bench", "bench-all"):
        plan = make("-n", "-B", target, path=os.environ["PATH"]).stdout
        assert "pip install --quiet -e '.[bench]'" in plan, (target, plan)
        assert plan.index("'.[bench]'") < plan.index("bench/ingest.py"), target
