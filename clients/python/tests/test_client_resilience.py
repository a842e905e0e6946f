"""The batch logger when the server is down, slow, or overloaded; full buffers; fork."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter

from conftest import Proxy, Server
from hivelog_client import BatchLogger, RetryPolicy

FAST_RETRY = RetryPolicy(max_attempts=50, base_delay=0.05, max_delay=0.5, max_total=30.0)


def log_some(logger: BatchLogger, n: int) -> set[str]:
    ids = set()
    with logger.session("resilience") as sid:
        ids.add(sid)
        for i in range(n - 1):
            ids.add(logger.log_tool("t", inputs={"i": i}))
    return ids


def assert_stored_once(server: Server, project: str, ids: set[str]) -> None:
    events = server.export(project)
    stored = [e["event_id"] for e in events]
    assert len(stored) == len(set(stored)) == len(ids)
    assert set(stored) == ids


def test_server_down_then_up(server: Server, project: str, proxy: Proxy) -> None:
    logger = BatchLogger(proxy.url, project=project, flush_interval=0.05, retry=FAST_RETRY)
    ids = log_some(logger, 50)
    time.sleep(0.5)  # several refused connections
    assert logger.stats()["retries"] >= 1 and logger.stats()["sent"] == 0
    proxy.start()
    assert logger.flush(timeout=30)
    logger.close()
    stats = logger.stats()
    assert stats["sent"] == 50 and stats["dropped_failed"] == stats["dropped_full"] == 0
    assert_stored_once(server, project, ids)


def test_503_with_retry_after_is_honoured(server: Server, project: str, proxy: Proxy) -> None:
    proxy.fail_first, proxy.retry_after = 2, "1"
    proxy.start()
    logger = BatchLogger(proxy.url, project=project, flush_interval=0.05, retry=FAST_RETRY)
    ids = log_some(logger, 30)
    assert logger.flush(timeout=30)
    logger.close()
    codes = [code for _, code in proxy.times]
    assert codes[:3] == [503, 503, 200]
    gaps = [b[0] - a[0] for a, b in zip(proxy.times, proxy.times[1:3])]
    assert all(gap >= 0.9 for gap in gaps), gaps  # Retry-After: 1, not the 50 ms backoff
    assert logger.stats()["retries"] == 2
    assert_stored_once(server, project, ids)


def test_slow_server_retries_without_duplicates(server: Server, project: str, proxy: Proxy) -> None:
    proxy.slow_first, proxy.delay = 2, 1.5
    proxy.start()
    logger = BatchLogger(
        proxy.url, project=project, flush_interval=0.05, timeout=0.4, retry=FAST_RETRY
    )
    ids = log_some(logger, 40)
    assert logger.flush(timeout=30)
    logger.close()
    sent_twice = [eid for eid, n in Counter(proxy.seen).items() if n > 1]
    assert sent_twice, "the slow answers should have made the client send again"
    assert_stored_once(server, project, ids)


def test_gives_up_after_the_bound_and_reports(project: str, proxy: Proxy) -> None:
    retry = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, max_total=5.0)
    logger = BatchLogger(proxy.url, project=project, flush_interval=0.05, retry=retry)
    log_some(logger, 10)  # the proxy never starts: connection refused every time
    assert logger.flush(timeout=10)
    logger.close()
    stats = logger.stats()
    assert stats["dropped_failed"] == 10 and stats["sent"] == 0 and stats["waiting"] == 0


def test_full_buffer_drops_newest_and_counts(server: Server, project: str, proxy: Proxy) -> None:
    logger = BatchLogger(
        proxy.url,
        project=project,
        batch_size=10,
        max_buffer=20,
        flush_interval=0.05,
        retry=FAST_RETRY,
    )
    with logger.session("full") as sid:
        kept = [logger.log_tool("t", inputs={"i": i}) for i in range(19)]
        dropped = [logger.log_tool("t", inputs={"i": i}) for i in range(19, 50)]
    assert logger.stats()["dropped_full"] == len(dropped) == 31
    proxy.start()
    assert logger.flush(timeout=30)
    logger.close()
    assert_stored_once(server, project, {sid, *kept})


def test_fork_child_sends_only_its_own(server: Server, project: str, proxy: Proxy) -> None:
    proxy.start()
    logger = BatchLogger(proxy.url, project=project, flush_interval=30.0)
    parent_ids = log_some(logger, 5)  # still buffered at fork time
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            child_ids = [logger.start_session("child")]
            child_ids += [logger.log_tool("child", inputs={"i": i}) for i in range(3)]
            ok = logger.flush(timeout=20) and logger.stats()["sent"] == 4
            with open(f"/tmp/hivelog-fork-{project}", "w") as f:
                f.write("\n".join(child_ids))
            code = 0 if ok else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with open(f"/tmp/hivelog-fork-{project}") as f:
        child_ids = set(f.read().split())
    os.unlink(f"/tmp/hivelog-fork-{project}")
    assert logger.flush(timeout=20)
    logger.close()
    assert Counter(proxy.seen) == Counter(parent_ids | child_ids)  # each sent exactly once
    assert_stored_once(server, project, parent_ids | child_ids)


def test_interpreter_exit_flushes(server: Server, project: str) -> None:
    script = (
        "import sys\n"
        "from hivelog_client import BatchLogger\n"
        "lg = BatchLogger(sys.argv[1], project=sys.argv[2], flush_interval=60)\n"
        "sid = lg.start_session('exit')\n"
        "ids = [lg.log_tool('t', inputs={'i': i}) for i in range(25)]\n"
        "print(' '.join([sid, *ids]))\n"
    )  # no flush() and no close(): the atexit hook must send them
    run = subprocess.run(
        [sys.executable, "-c", script, server.url, project],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert_stored_once(server, project, set(run.stdout.split()))


def test_many_threads_log_concurrently(server: Server, project: str) -> None:
    logger = BatchLogger(server.url, project=project, batch_size=50, flush_interval=0.05)
    sid = logger.start_session("threads")
    ids: list[list[str]] = [[] for _ in range(8)]

    def work(n: int) -> None:
        for i in range(250):
            ids[n].append(logger.log_tool("t", session_id=sid, inputs={"n": n, "i": i}))
            if i % 100 == 0:
                logger.flush(timeout=20)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    logger.close()
    assert logger.stats()["sent"] == 2001
    assert_stored_once(server, project, {sid, *(i for chunk in ids for i in chunk)})
