"""The dashboard in Chromium: what the charts draw (gaps, round ticks, legends, percentiles
told apart, model calls apart), the totals and the per-model table, checked against numbers
computed here from the events the test sent."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import Server
from tests.ui.conftest import checked_page, screenshot

HOUR = 3_600_000
DAY = 24 * HOUR


class Board:
    def __init__(self, server: Server, project: str, now: int) -> None:
        self.server, self.project, self.now = server, project, now

    def url(self, **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"project": self.project, **params}.items())
        return f"{self.server.url}/ui/dashboard?{query}"


def _model(sid: str, start: int, duration: int, model: str, **more: Any) -> dict[str, Any]:
    return {
        "session_id": sid, "event_type": "model", "event_name": "chat", "start_time": start,
        "duration": duration, "config": {"model": model},
        "metadata": {"prompt_tokens": 10, "completion_tokens": 5, "cost": 0.25}, **more,
    }  # fmt: skip


@pytest.fixture(scope="module")
def board(server: Server) -> Iterator[Board]:
    """Two sessions in the last 24 hours, five hours apart (the hours between are empty), and
    one 40 days ago (another calendar month): model calls of 100, 200 (gpt-4o) and 300 ms
    (claude), tool calls of 5,000 and 4,000 ms (one failed), and 1,000 and 1,100 ms gpt-4o
    calls 40 days ago."""
    b = Board(server, f"dash-{uuid.uuid4().hex[:8]}", int(time.time() * 1000))
    early, late, old = (str(uuid.uuid4()) for _ in range(3))
    t_early, t_late, t_old = b.now - 6 * HOUR, b.now - HOUR, b.now - 40 * DAY
    events = [
        _model(early, t_early + 1, 100, "gpt-4o"),
        _model(early, t_early + 2, 200, "gpt-4o"),
        {"session_id": early, "event_type": "tool", "event_name": "search",
         "start_time": t_early + 3, "duration": 5000},
        _model(late, t_late + 1, 300, "claude-3-5-sonnet"),
        {"session_id": late, "event_type": "tool", "event_name": "search",
         "start_time": t_late + 2, "duration": 4000, "error": "timed out"},
        _model(old, t_old + 1, 1000, "gpt-4o"),
        _model(old, t_old + 2, 1100, "gpt-4o"),
    ]  # fmt: skip
    with server.client() as c:
        for sid, t0 in ((early, t_early), (late, t_late), (old, t_old)):
            c.post(
                "/session/start",
                json={"session": {"project": b.project, "session_id": sid,
                                  "session_name": "dash", "start_time": t0}},
            ).raise_for_status()  # fmt: skip
        c.post("/events/batch", json={"project": b.project, "events": events}).raise_for_status()
    yield b


@pytest.fixture()
def utc_page(browser: Browser) -> Iterator[Page]:
    """A page whose browser runs in UTC, so round times are round in epoch seconds too."""
    with checked_page(browser, timezone_id="UTC") as page:
        yield page


def _open(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("[data-charts][data-ready='1']")


def _chart(page: Page, name: str) -> dict[str, Any]:
    """What uPlot drew for one chart: its data, series and axes as computed."""
    info: dict[str, Any] = page.evaluate(
        """(name) => {
            const u = document.querySelector(`figure[data-chart="${name}"]`).uplot;
            return {
                data: u.data,
                series: u.series.slice(1).map((s) => ({ label: s.label, width: s.width,
                    dash: s.dash || [], stroke: s.stroke(u, 1), spanGaps: s.spanGaps })),
                xSplits: u.axes[0]._splits, ySplits: u.axes[1]._splits,
                yLabels: u.axes[1]._values,
            };
        }""",
        name,
    )
    return info


def _legend(page: Page, name: str) -> dict[str, str]:
    labels = page.locator(f"figure[data-chart='{name}'] .u-legend .u-series")
    out = {}
    for row in labels.all():
        out[row.locator(".u-label").inner_text().strip()] = row.locator(".u-value").inner_text()
    return out


def _is_round_step(step: float) -> bool:
    """1, 2 or 5 times a power of ten."""
    exponent = math.floor(math.log10(step))
    return round(step / 10**exponent, 9) in (1.0, 2.0, 5.0)


def test_empty_buckets_are_gaps_not_lines(utc_page: Page, board: Board) -> None:
    _open(utc_page, board.url(range="24h"))
    latency = _chart(utc_page, "latency")
    x, *series = latency["data"]
    t_early = (board.now - 6 * HOUR) // HOUR * HOUR // 1000
    t_late = (board.now - HOUR) // HOUR * HOUR // 1000
    between = [i for i, t in enumerate(x) if t_early < t < t_late]
    assert len(between) >= 3, x
    for ys, s in zip(series, latency["series"], strict=True):
        assert s["spanGaps"] is False
        assert ys[x.index(t_early)] is not None and ys[x.index(t_late)] is not None
        assert all(ys[i] is None for i in between), (s["label"], ys)
    # counts are what they are in an empty hour: 0
    sessions = _chart(utc_page, "sessions")
    assert all(sessions["data"][1][i] == 0 for i in between)


def test_axis_ticks_at_round_values(utc_page: Page, board: Board) -> None:
    _open(utc_page, board.url(range="24h"))
    for name in ("sessions", "events", "latency", "model-latency", "tokens", "cost", "errors"):
        info = _chart(utc_page, name)
        ys = [v for v in info["ySplits"] if v is not None]
        assert len(ys) >= 2, (name, ys)
        step = ys[1] - ys[0]
        assert _is_round_step(step), (name, ys)
        for v in ys:
            assert abs(v / step - round(v / step)) < 1e-6, (name, ys)
        if name in ("sessions", "events"):
            assert step >= 1 and all(float(v).is_integer() for v in ys), (name, ys)
        # the labels are the values, written plainly (no 0.30000000000000004)
        assert all(len(label.replace(",", "")) <= 12 for label in info["yLabels"]), info
        xs = info["xSplits"]
        x_step = xs[1] - xs[0]
        assert x_step % 3600 == 0 and all(t % x_step == 0 for t in xs), (name, xs)


def test_legends_show_latest_values_before_any_hover(utc_page: Page, board: Board) -> None:
    _open(utc_page, board.url(range="24h"))
    for name in ("sessions", "events", "latency", "model-latency", "tokens", "cost", "errors"):
        legend = _legend(utc_page, name)
        assert legend.pop("Time") == "latest", (name, legend)
        assert legend and all(v not in ("--", "–", "") for v in legend.values()), (name, legend)
    # the latest hour holds the claude call and the failed tool call: its values
    latest = {"Time": "latest", "p50": "300 ms", "p95": "300 ms", "p99": "300 ms"}
    assert _legend(utc_page, "model-latency") == latest
    assert _legend(utc_page, "latency")["p99"] == "4,000 ms"
    # pointing at an empty hour shows that it is empty; leaving shows the latest again
    figure = utc_page.locator("figure[data-chart='latency'] .u-over")
    box = figure.bounding_box()
    assert box is not None
    time_row = utc_page.locator("figure[data-chart='latency'] .u-legend .u-series").first
    utc_page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    expect(time_row).not_to_contain_text("latest")
    utc_page.mouse.move(0, 0)
    expect(time_row).to_contain_text("latest")


def test_p95_and_p99_are_told_apart(utc_page: Page, board: Board) -> None:
    _open(utc_page, board.url(range="24h"))
    for name in ("latency", "model-latency"):
        styles = {s["label"]: s for s in _chart(utc_page, name)["series"]}
        assert set(styles) == {"p50", "p95", "p99"}
        p95, p99 = styles["p95"], styles["p99"]
        # equal values must still show both: a wide dashed band under a thin dotted line
        assert p95["dash"] != p99["dash"] and p95["stroke"] != p99["stroke"]
        assert p95["width"] >= 2 * p99["width"]
        order = [s["label"] for s in _chart(utc_page, name)["series"]]
        assert order.index("p95") < order.index("p99")  # drawn first, beneath


def test_model_calls_have_their_own_latency(utc_page: Page, board: Board) -> None:
    _open(utc_page, board.url(range="24h"))
    everything = _chart(utc_page, "latency")
    models = _chart(utc_page, "model-latency")
    top = max(v for v in everything["data"][-1] if v is not None)
    top_model = max(v for ys in models["data"][1:] for v in ys if v is not None)
    assert top == 5000 and top_model == 300  # tool calls count in one, not in the other


def test_totals_for_the_range(utc_page: Page, board: Board) -> None:
    _open(utc_page, board.url(range="24h"))
    totals = {
        k: utc_page.locator(f"[data-total={k}]").inner_text()
        for k in ("sessions", "events", "tokens", "cost", "errors")
    }
    # 3 model calls and 2 tool calls, one failed; 15 tokens and $0.25 per model call
    assert totals == {
        "sessions": "2", "events": "5", "tokens": "45", "cost": "$0.75", "errors": "20 %",
    }  # fmt: skip


def _models_table(page: Page) -> dict[str, list[str]]:
    return {
        r.locator("td").first.inner_text(): r.locator("td").all_inner_texts()[1:]
        for r in page.locator("table.models tbody tr").all()
    }


def test_per_model_percentiles_over_any_range(utc_page: Page, board: Board) -> None:
    # all time: gpt-4o calls of 100, 200 ms (today) and 1,000, 1,100 ms (40 days ago, another
    # calendar month): nearest-rank p50 = 200, p95 = 1,100
    _open(utc_page, board.url(range="all"))
    rows = _models_table(utc_page)
    assert rows["gpt-4o"] == ["4", "60", "$1.00", "200 ms", "1,100 ms"], rows
    assert rows["claude-3-5-sonnet"] == ["1", "15", "$0.25", "300 ms", "300 ms"], rows
    _open(utc_page, board.url(range="24h"))
    assert _models_table(utc_page)["gpt-4o"] == ["2", "30", "$0.50", "100 ms", "200 ms"]
    screenshot(utc_page, "dashboard-board")
