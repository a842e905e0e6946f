"""A prices file (`--prices`) prices private and fine-tuned models at ingest, on every route
(OTLP converted in a worker process included); `hivelog prices` lists the effective prices."""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import HIVELOG, Server
from tests.helpers import export, get_event, post_ok, uid
from tests.otlp.otlp_helpers import new_span, new_trace, pb_request, pb_span, post_pb

TOML = """
[models."acme-llm-*"]
input = 0.2
output = 0.6
cached = 0.05

[models."gpt-4o"]
input = 2.0
output = 8.0
cached = 1.0
"""


@pytest.fixture()
def priced(fresh_database: str, tmp_path: Path) -> Iterator[Server]:
    path = tmp_path / "prices.toml"
    path.write_text(TOML)
    server = Server(fresh_database, ["--prices", str(path), "--convert-processes", "1"])
    server.start(timeout=60)
    yield server
    server.stop()


def _cost(client: httpx.Client, model: str, usage: dict[str, Any]) -> Any:
    """metadata.cost of a call of `model` (None if it has none, then it is unpriced)."""
    body = {"model_event": {"project": "p", "model": model, "usage": usage}}
    out = post_ok(client, "/events/model", body)
    md = get_event(client, "p", out["event_id"])["metadata"]
    assert md["cost_status"] == ("unpriced" if md.get("cost") is None else "computed")
    return md.get("cost")


M = 1_000_000


def test_the_prices_file_prices_and_overrides(priced: Server) -> None:
    with priced.client() as c:
        both = {"prompt_tokens": M, "completion_tokens": M}
        assert math.isclose(_cost(c, "acme-llm-7b", both), 0.8)  # a pattern of the file
        cached = {"prompt_tokens": M, "completion_tokens": 0,
                  "prompt_tokens_details": {"cached_tokens": M // 2}}  # fmt: skip
        assert math.isclose(_cost(c, "ACME-LLM-70B", cached), 0.5 * 0.2 + 0.5 * 0.05)
        assert math.isclose(_cost(c, "gpt-4o", both), 10.0)  # the file wins over the table
        only_in = {"prompt_tokens": M, "completion_tokens": 0}
        assert math.isclose(_cost(c, "gpt-4o-mini", only_in), 0.15)  # the table prices the rest
        assert _cost(c, "someone-elses-model", {"prompt_tokens": 10}) is None


def test_otlp_converted_in_a_worker_uses_the_prices_file(priced: Server) -> None:
    trace = new_trace()
    attrs = {
        "honeyhive.project": "otlp",
        "gen_ai.system": "acme",
        "gen_ai.request.model": "acme-llm-7b",
        "gen_ai.usage.input_tokens": 1_000_000,
        "gen_ai.usage.output_tokens": 0,
        "padding": "x" * 40_000,  # over the in-place size: converted in a worker process
    }
    with priced.client() as c:
        post_pb(c, pb_request([pb_span(trace, new_span(), "chat", attrs)]))
        [event] = [e for e in export(c, "otlp") if e["event_type"] == "model"]
        assert math.isclose(event["metadata"]["cost"], 0.2)


def test_json_prices_file_and_the_prices_command(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": {"acme-ft-*": {"input": 1, "output": 2}}}))
    done = subprocess.run(
        [HIVELOG, "prices", "--prices", str(path), "acme-ft-3", "gpt-4o"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines()[2:]}
    assert lines["acme-ft-3"].split()[1:5] == ["1", "2", "1", "1"]
    assert lines["acme-ft-3"].endswith(f"prices file {path}")
    assert (
        lines["gpt-4o"].split()[1:4] == ["2.5", "10", "1.25"] and "genai-prices" in lines["gpt-4o"]
    )
    done = subprocess.run(
        [HIVELOG, "prices", "no-such-model-" + uid()], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1 and "no price for no-such-model-" in done.stderr
    assert "unpriced" in done.stdout


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ('[models."x"]\ninput = 1\n', "output is missing"),
        ('[models."x"]\ninput = 1\noutput = "two"\n', "output must be a number"),
        ('[models."x"]\ninput = 1\noutput = 2\ncache = 1\n', "unknown key(s) cache"),
        ("models = [", "not valid TOML"),
    ],
)
def test_a_bad_prices_file_stops_serve_and_prices(tmp_path: Path, text: str, fault: str) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(text)
    for args in (
        ["prices", "--prices", str(path)],
        ["serve", "--prices", str(path), "--db", str(tmp_path / "x.db")],
    ):
        done = subprocess.run([HIVELOG, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode != 0, args
        assert str(path) in done.stderr and fault in done.stderr, done.stderr
    assert not (tmp_path / "x.db").exists()
