"""The empty-project page's copy-paste snippets, for a project name chosen by whoever made the
link: each snippet is run exactly as a user would paste it (curl in bash, the Python client, an
OpenTelemetry SDK reading the exported variables) and must do what it shows and nothing else —
the event lands in the project of that exact name, and no command hidden in the name runs."""

from __future__ import annotations

import html
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from tests.conftest import Server

_PRE = re.compile(
    r'<pre class="code"><button class="copy" data-copy-text>Copy</button>(.*?)</pre>', re.S
)
CRAFTED = (
    'x"; touch {m}; echo "',
    "'; touch {m}; echo '",
    "$(touch {m}) `touch {m}` \\ %41 a,b=c ü",
)


def _snippets(server: Server, project: str) -> list[str]:
    with server.client() as c:
        r = c.get("/?" + urllib.parse.urlencode({"project": project}))
    assert r.status_code == 200, r.text
    found = [html.unescape(s) for s in _PRE.findall(r.text)]
    assert len(found) == 3, r.text
    return found


def _stored(server: Server, project: str) -> int:
    with server.client() as c:
        r = c.post("/events/export", json={"project": project})
    assert r.status_code == 200, r.text
    total: int = r.json()["totalEvents"]
    return total


@pytest.mark.parametrize("template", CRAFTED)
def test_pasted_snippets_do_what_they_show(server: Server, tmp_path: Path, template: str) -> None:
    marker = tmp_path / "ran"
    project = template.format(m=marker)
    curl, python, otel = _snippets(server, project)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    done = subprocess.run(
        ["bash", "-c", curl], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env
    )
    assert done.returncode == 0 and '"success":true' in done.stdout.replace(" ", ""), done
    assert not marker.exists(), "the pasted curl command ran a command hidden in the project name"

    done = subprocess.run(
        [sys.executable, "-c", python], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert _stored(server, project) >= 2  # curl's event, the client's session and model call

    show = (
        f"{otel}\n{sys.executable} -c 'from opentelemetry.sdk.resources import Resource; "
        'import os; print(os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]); '
        'print(Resource.create().attributes["honeyhive.project"])\''
    )
    done = subprocess.run(
        ["bash", "-c", show], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    endpoint, name = done.stdout.rstrip("\n").split("\n", 1)
    assert endpoint == server.url + "/opentelemetry/v1/traces"
    assert name == project
    assert not marker.exists()
