"""Settings are data: each one is a flag, an environment variable and a line of docs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hivelog.settings import SETTINGS, Settings, markdown
from tests.conftest import HIVELOG, ROOT


def test_docs_settings_md_is_generated_from_the_settings() -> None:
    assert (ROOT / "docs" / "settings.md").read_text() == markdown(), (
        "docs/settings.md is stale: run `python -m hivelog.settings > docs/settings.md`"
    )


def test_serve_help_lists_every_setting_and_its_variable() -> None:
    text = subprocess.run(
        [HIVELOG, "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(text.split())
    for s in SETTINGS:
        assert s.flag in flat and s.env in flat, s.name


def test_environment_variables_are_read(monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("HIVELOG_PORT", "9999")
    monkeypatch.setenv("HIVELOG_INSECURE", "yes")
    s = Settings.from_env(host="0.0.0.0")
    assert (s.port, s.insecure, s.host) == (9999, True, "0.0.0.0")
    assert Settings.from_env(port=1234).port == 1234  # a flag wins over the variable


def test_readme_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make serve" in readme and "make test" in readme
    ci = Path(ROOT / ".ci" / "run").read_text().splitlines()
    assert "make test" in [line.strip() for line in ci if not line.startswith("#")]
