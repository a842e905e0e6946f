"""`hivelog import` and `hivelog export` against a real server, through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from hivelog_client import BatchLogger, Logger

from tests.conftest import HIVELOG, Server

BAD_LINES = {
    500: "{not json",
    33333: json.dumps({"event_name": "no type", "inputs": {}}),
    70000: json.dumps({"event_type": "weird", "event_name": "x"}),
    99990: json.dumps({"event_type": "tool", "event_name": "x", "inputs": ["a", "list"]}),
}


def write_events(path: Path, n: int, bad: dict[int, str] | None = None) -> int:
    """n lines: sessions of one session line and four tool lines; returns the good ones."""
    bad = bad or {}
    good = 0
    with open(path, "w") as out:
        sid = ""
        for line in range(1, n + 1):
            if line in bad:
                out.write(bad[line] + "\n")
                continue
            good += 1
            if line % 5 == 1:
                sid = str(uuid.uuid4())
                item: dict[str, Any] = {"event_type": "session", "session_id": sid,
                                        "session_name": f"s{line}", "source": "import"}  # fmt: skip
            else:
                item = {"event_type": "tool", "event_name": f"t{line % 5}", "session_id": sid,
                        "inputs": {"q": "données " * 10, "line": line}, "outputs": {"r": "ok"},
                        "start_time": 1_700_000_000_000 + line, "duration": 3}  # fmt: skip
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
    return good


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HIVELOG, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def export_all(server: Server, project: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    with server.client() as c:
        for page in range(1, 100):
            body = {"project": project, "filters": [], "limit": 7500, "page": page}
            data = c.post("/events/export", json=body).json()
            events.extend(data["events"])
            if len(events) >= data["totalEvents"]:
                return events
    raise AssertionError("export did not end")


def count(server: Server, project: str) -> int:
    """Stored events of a project. The store keeps one row per event_id (a unique index), so
    a count equal to the lines sent means nothing was stored twice."""
    with server.client() as c:
        body = {"project": project, "filters": [], "limit": 1}
        return int(c.post("/events/export", json=body).json()["totalEvents"])


def test_import_100k_with_bad_lines(server: Server, project: str, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    good = write_events(path, 100_000, BAD_LINES)
    assert good == 100_000 - len(BAD_LINES)
    run = cli("import", str(path), "--url", server.url, "--project", project)
    assert run.returncode == 0, run.stderr
    for line in BAD_LINES:
        assert f"line {line}:" in run.stderr
    assert "inputs must be an object" in run.stderr
    assert f"sent {good:,}, skipped {len(BAD_LINES)}, failed 0" in run.stderr
    assert "events/s" in run.stderr
    assert count(server, project) == good
    # Idempotent ids: running it again stores nothing new.
    again = cli("import", str(path), "--url", server.url, "--project", project)
    assert again.returncode == 0, again.stderr
    assert count(server, project) == good


def test_import_resumes_after_a_kill(server: Server, project: str, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    good = write_events(path, 20_000)
    checkpoint = path.with_name(path.name + ".hivelog-import")
    args = ["import", str(path), "--url", server.url, "--project", project,
            "--workers", "1", "--batch-size", "100"]  # fmt: skip
    proc = subprocess.Popen([HIVELOG, *args], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = json.loads(checkpoint.read_text())
    assert 0 < state["line"] < 20_000
    run = cli(*args)
    assert run.returncode == 0, run.stderr
    assert f"resumed after line {state['line']}" in run.stderr
    assert not checkpoint.exists()
    assert count(server, project) == good


def _comparable(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["event_id"]: {k: v for k, v in e.items() if k != "project_id"} for e in events}


def test_export_import_round_trip(server: Server, project: str, tmp_path: Path) -> None:
    source = project + "-src"
    logger = Logger(server.url, project=source)
    sid = logger.start_session("chat", inputs={"q": "¿dónde está? 注文"}, metadata={"v": 1})
    chain = logger.log_chain("answer", inputs={"question": "q"})
    logger.log_tool("db", parent_id=chain, inputs={"id": 7}, outputs={"rows": [1, 2]})
    logger.log_model(
        "gpt-4o", parent_id=chain, provider="openai",
        messages=[{"role": "user", "content": "hi"}],
        response={"role": "assistant", "content": "hello"},
        usage={"prompt_tokens": 5, "completion_tokens": 2}, duration=120.5,
    )  # fmt: skip
    logger.update(chain, feedback={"rating": 5}, outputs={"answer": "x"})
    logger.update(sid, metrics={"turns": 1})
    batch = BatchLogger(server.url, project=source)
    for s in range(20):
        with batch.session(f"b{s}"):
            batch.log_tool("search", inputs={"s": s}, error="timeout" if s % 7 == 0 else None)
    batch.close()
    original = export_all(server, source)
    assert len(original) == 4 + 40

    dumped = tmp_path / "dump.jsonl"
    run = cli("export", "--url", server.url, "--project", source, "-o", str(dumped))
    assert run.returncode == 0, run.stderr
    assert "exported 44 events" in run.stderr
    run = cli("import", str(dumped), "--url", server.url, "--project", project)
    assert run.returncode == 0, run.stderr
    assert "sent 44, skipped 0, failed 0" in run.stderr
    assert _comparable(export_all(server, project)) == _comparable(original)

    # --db reads the store itself and writes the same lines the route gives.
    direct = tmp_path / "direct.jsonl"
    env_db = ["--db", server.db]
    run = cli("export", *env_db, "--project", project, "-o", str(direct))
    assert run.returncode == 0, run.stderr
    lines = [json.loads(x) for x in direct.read_text().splitlines()]
    assert _comparable(lines) == _comparable(original)
    since = cli("export", *env_db, "--project", project, "--since", "2100-01-01T00:00:00Z")
    assert since.returncode == 0 and since.stdout == ""


def test_import_csv(server: Server, project: str, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    sid = str(uuid.uuid4())
    path.write_text(
        "event_type,event_name,session_id,inputs,outputs,duration,start_time\n"
        f"session,my session,{sid},,,,\n"
        f'tool,lookup,{sid},"{{""q"": ""x""}}","{{""r"": 1}}",12.5,1700000000000\n'
        f"tool,broken,{sid},{{not json,,,\n"
        f"chain,plan,{sid},,,3,2024-01-02T03:04:05Z\n",
        encoding="utf-8",
    )
    run = cli("import", str(path), "--url", server.url, "--project", project)
    assert run.returncode == 0, run.stderr
    assert "line 4: column inputs is not valid JSON" in run.stderr
    assert "sent 3, skipped 1" in run.stderr
    events = {e["event_name"]: e for e in export_all(server, project)}
    assert set(events) == {"my session", "lookup", "plan"}
    assert events["lookup"]["inputs"] == {"q": "x"} and events["lookup"]["duration"] == 12.5
    assert events["plan"]["start_time"] == 1704164645000
    assert all(e["session_id"] == sid for e in events.values())
    assert os.path.exists(path) and not path.with_name("events.csv.hivelog-import").exists()


def test_import_model_route_lines(server: Server, project: str, tmp_path: Path) -> None:
    """Lines in the shape of POST /events/model go through /events/model/batch."""
    sid = str(uuid.uuid4())
    path = tmp_path / "models.jsonl"
    lines = [
        {"session_name": "imported chat", "session_id": sid, "source": "legacy-db"},
        {"model": "gpt-4o", "provider": "openai", "session_id": sid,
         "messages": [{"role": "user", "content": "hi"}],
         "response": {"role": "assistant", "content": "hello"},
         "usage": {"prompt_tokens": 3, "completion_tokens": 1}, "duration": 42},
    ]  # fmt: skip
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    run = cli("import", str(path), "--url", server.url, "--project", project)
    assert run.returncode == 0, run.stderr
    events = {e["event_type"]: e for e in export_all(server, project)}
    assert events["session"]["event_name"] == "imported chat"
    assert events["session"]["source"] == "legacy-db"
    model = events["model"]
    assert model["config"]["model"] == "gpt-4o" and model["metadata"]["total_tokens"] == 4
    assert model["inputs"]["chat_history"][0]["content"] == "hi"
    assert model["session_id"] == sid and model["duration"] == 42
