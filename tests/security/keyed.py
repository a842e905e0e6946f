"""Helpers for tests of keyed servers: create keys with the real CLI, start a keyed server."""

from __future__ import annotations

import subprocess

import httpx

from tests.conftest import HIVELOG, Server


def hivelog(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the `hivelog` command; output as text."""
    return subprocess.run(
        [HIVELOG, *args], capture_output=True, text=True, timeout=300, check=check
    )


def create_key(db: str, project: str, name: str | None = None) -> str:
    """A new key of `project` made by `hivelog keys create` (stdout is the key alone)."""
    args = ["keys", "create", "--project", project, "--db", db]
    if name:
        args += ["--name", name]
    key = hivelog(*args).stdout.strip()
    assert key.startswith("hl_") and "\n" not in key
    return key


def keyed_client(server: Server, key: str) -> httpx.Client:
    return server.client(headers={"Authorization": f"Bearer {key}"})
