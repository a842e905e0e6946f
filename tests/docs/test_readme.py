"""The READMEs work when read literally: every link points inside the repository at a file
that exists, the `hivelog` command is reachable as written, example keys can be sent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

READMES = [ROOT / "README.md", *sorted((ROOT / "clients").glob("*/README.md"))]
DOCS = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
UP = re.compile(r"(?<![\w/.])(?:\.\./)+[\w.-][\w./-]*")  # ../x named in text or code
# A quoted key in an example: api_key="…", .apiKey("…"), APIKey: "…", Bearer …
KEY = re.compile(r"""(?:api_key=|apiKey\(|APIKey:\s*)"([^"]*)"|Bearer ([^\s"'`<]+)""")


@pytest.mark.parametrize("doc", READMES + DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_stay_in_the_repository_and_exist(doc: Path) -> None:
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor
        path = (doc.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT), f"{doc.name} links {target}, outside the repository"
        if doc in READMES:
            assert path.exists(), f"{doc.name} links {target}, which does not exist"
    for named in UP.findall(doc.read_text()):
        path = (doc.parent / named).resolve()
        assert path.is_relative_to(ROOT), f"{doc.name} names {named}, outside the repository"


@pytest.mark.parametrize("doc", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_keys_can_be_sent_as_a_header(doc: Path) -> None:
    for quoted, bearer in KEY.findall(doc.read_text()):
        key = quoted or bearer
        assert key.isascii() and key.isprintable() and " " not in key, (doc.name, key)


def test_the_hivelog_command_is_reachable_as_written() -> None:
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"\nhivelog (serve|import|export|keys|migrate)", readme)
    assert found is not None
    first_use = found.start()
    before = readme[:first_use]
    assert ".venv/bin/activate" in before and ".venv/bin/hivelog" in before


def test_readme_lists_what_make_test_needs() -> None:
    readme = (ROOT / "README.md").read_text()
    intro = readme[: readme.index("## Send your first events")]
    for need in ("PostgreSQL at 127.0.0.1:5432", "Go", "JDK", "Chromium"):
        assert need in intro, need
