"""Errors a user can act on: a key that cannot be sent is refused when the logger is made,
and a server that cannot be reached is named (host and port) in the error."""

from __future__ import annotations

import logging

import pytest

from conftest import Server, free_port
from hivelog_client import BatchLogger, HivelogError, Logger, RetryPolicy

ONE_TRY = RetryPolicy(max_attempts=1)


@pytest.mark.parametrize("key", ["…", "hl_abc…", "my key", "hl_abc\r\nX-Evil: 1", "clé"])
@pytest.mark.parametrize("kind", [Logger, BatchLogger])
def test_a_key_that_cannot_be_a_header_is_refused_at_construction(
    kind: type[Logger] | type[BatchLogger], key: str
) -> None:
    with pytest.raises(ValueError, match="API key cannot be sent in an HTTP header"):
        kind("http://127.0.0.1:9", api_key=key)


def test_a_key_from_the_environment_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIVELOG_API_KEY", "key…")
    with pytest.raises(ValueError, match=r"character 4 of 4 is '…' \(U\+2026\)"):
        Logger("http://127.0.0.1:9")


def test_a_good_key_still_works(server: Server, project: str) -> None:
    logger = Logger(server.url, api_key="hl_0123abcd_A-b.c~d+e/f=", project=project)
    logger.log_tool("t", inputs={"x": 1})  # an open server ignores the key
    assert len(server.export(project)) == 2  # the tool event and its session


def test_unreachable_server_is_named_in_the_error() -> None:
    port = free_port()  # nothing listens there
    logger = Logger(f"http://127.0.0.1:{port}", project="p", retry=ONE_TRY)
    with pytest.raises(HivelogError) as caught:
        logger.log_tool("t", inputs={})
    message = str(caught.value)
    assert f"cannot reach 127.0.0.1:{port}" in message and "connection refused" in message
    assert f"http://127.0.0.1:{port}/" in message


def test_batch_logger_names_the_address_it_gave_up_on(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    logger = BatchLogger(f"http://127.0.0.1:{port}", project="p", retry=ONE_TRY)
    with caplog.at_level(logging.WARNING, logger="hivelog_client"):
        logger.log_tool("t", inputs={})
        assert logger.flush(timeout=10)
        logger.close()
    assert f"cannot reach 127.0.0.1:{port}" in caplog.text, caplog.text
