"""`BatchLogger`: calls return at once, a background thread sends batches (strategies 3 and 4).

Why a module of its own: everything that makes logging non-blocking lives here and only
here — the bounded buffer, the sending thread, flushing and closing with a deadline, batch
requests split to save the good events of a refused batch, and the counters of `stats()`.
Bodies are built by `BaseLogger` (in `logger`), exactly as for the sync `Logger`.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any, Optional

from hivelog_client._encode import to_json
from hivelog_client._http import HivelogError, RetryPolicy, send
from hivelog_client.logger import BaseLogger

log = logging.getLogger("hivelog_client")

_EVENT, _MODEL, _UPDATE = 0, 1, 2
_Item = tuple[int, Optional[str], str]  # kind, session id, the body encoded as JSON


class BatchLogger(BaseLogger):
    """Async batching: calls return at once; a background thread sends the events.

    Events are encoded when logged (a snapshot; later mutation of the caller's objects does
    not change them) and sent through `/events/batch` and `/events/model/batch`, grouped by
    session, when `batch_size` are waiting, every `flush_interval` seconds, on `flush()`,
    `close()` and interpreter exit. At most `max_buffer` events wait: beyond that new events
    are dropped and counted, never raised. Failed requests are retried per `retry`; what is
    given up is counted and logged. `stats()` reports all of it.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        project: str | None = None,
        source: str | None = None,
        *,
        batch_size: int = 100,
        flush_interval: float = 1.0,
        max_buffer: int = 10_000,
        close_timeout: float = 10.0,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(url, api_key, project, source, timeout=timeout, retry=retry)
        if not 1 <= batch_size <= 1000:
            raise ValueError("batch_size must be between 1 and 1000")
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffer = max(max_buffer, batch_size)
        self.close_timeout = close_timeout
        self._init_state()

    def _init_state(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._buffer: collections.deque[_Item] = collections.deque()
        self._in_flight = 0
        self._accepted = 0  # items accepted into the buffer, ever
        self._finished = 0  # of those, sent or given up
        self._flush_wanted = False
        self._closed = False
        self._abort = threading.Event()
        self._thread: threading.Thread | None = None
        self._counts = dict.fromkeys(
            ("sent", "dropped_full", "dropped_failed", "rejected", "retries", "requests"), 0
        )

    def _before_fork(self) -> None:
        """No other thread may hold the lock across a fork: the child could never take it."""
        self._cond.acquire()

    def _after_fork_parent(self) -> None:
        self._cond.release()

    def _after_fork_child(self) -> None:
        """The child starts empty: buffered events are the parent's to send."""
        super()._after_fork_child()
        self._init_state()

    def _at_exit(self) -> None:
        self.close()

    # ---- app side --------------------------------------------------------------------------

    def _enqueue(self, kind: int, session_id: str | None, payload: str) -> None:
        with self._cond:
            if self._closed or len(self._buffer) + self._in_flight >= self.max_buffer:
                self._counts["dropped_full"] += 1
                if self._counts["dropped_full"] == 1:
                    log.warning(
                        "hivelog buffer full (%d events): dropping new events", self.max_buffer
                    )
                return
            self._buffer.append((kind, session_id, payload))
            self._accepted += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hivelog-batch", daemon=True)
                self._thread.start()
            if len(self._buffer) == self.batch_size:
                self._cond.notify_all()

    def _send_session(self, session_id: str, session: dict[str, Any]) -> None:
        event = dict(session)
        name = event.pop("session_name", None)
        if name is not None:
            event.setdefault("event_name", name)
        event["event_type"] = "session"
        event["event_id"] = session_id
        self._enqueue(_EVENT, session_id, to_json(event))

    def _send_event(self, session_id: str | None, event: dict[str, Any]) -> None:
        self._enqueue(_EVENT, session_id, to_json(event))

    def _send_model(self, session_id: str | None, event: dict[str, Any]) -> None:
        self._enqueue(_MODEL, session_id, to_json(event))

    def _send_update(self, update: dict[str, Any]) -> None:
        self._enqueue(_UPDATE, None, to_json(update))

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything logged so far; True once it is sent (or given up), False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._accepted
            if self._thread is None or self._finished >= target:
                return True
            self._flush_wanted = True
            self._cond.notify_all()
            while self._finished < target:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float | None = None) -> None:
        """Flush, then stop the thread. Past `timeout` what is left is dropped and counted."""
        timeout = self.close_timeout if timeout is None else timeout
        with self._cond:
            self._closed = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                self._abort.set()
                thread.join(1.0)
        super().close()

    def stats(self) -> dict[str, int]:
        """Counters: events sent, dropped (buffer full / gave up), rejected, retries, requests,
        and how many are waiting now."""
        with self._cond:
            return {**self._counts, "waiting": len(self._buffer) + self._in_flight}

    # ---- background thread -----------------------------------------------------------------

    def _run(self) -> None:
        last = time.monotonic()
        while True:
            with self._cond:
                while not (
                    self._closed
                    or self._flush_wanted
                    or len(self._buffer) >= self.batch_size
                    or (self._buffer and time.monotonic() - last >= self.flush_interval)
                ):
                    wait = self.flush_interval - (time.monotonic() - last)
                    self._cond.wait(wait if self._buffer and wait > 0 else self.flush_interval)
                items = list(self._buffer)
                self._buffer.clear()
                self._in_flight = len(items)
                self._flush_wanted = False
                stop = self._closed
            try:
                self._send_items(items)
            except Exception:  # never let the thread die with events still coming
                log.exception("hivelog batch thread: unexpected error")
                self._count("dropped_failed", len(items))
            last = time.monotonic()
            with self._cond:
                self._in_flight = 0
                self._finished += len(items)
                self._cond.notify_all()
                if stop and not self._buffer:
                    self._thread = None
                    return

    def _count(self, name: str, n: int = 1) -> None:
        with self._cond:
            self._counts[name] += n

    def _send_items(self, items: list[_Item]) -> None:
        by_kind: dict[int, dict[str | None, list[str]]] = {_EVENT: {}, _MODEL: {}}
        updates: list[str] = []
        for kind, sid, payload in items:
            if kind == _UPDATE:
                updates.append(payload)
            else:
                by_kind[kind].setdefault(sid, []).append(payload)
        for kind, path, key in (
            (_EVENT, "/events/batch", "events"),
            (_MODEL, "/events/model/batch", "model_events"),
        ):
            grouped = [p for group in by_kind[kind].values() for p in group]
            for start in range(0, len(grouped), self.batch_size):
                self._send_batch(path, key, grouped[start : start + self.batch_size])
        for payload in updates:
            self._send_raw("PUT", "/events", self._with_project(payload), 1)

    def _with_project(self, payload: str) -> str:
        if self.project is None:
            return payload
        return payload[:-1] + ',"project":' + to_json(self.project) + "}"

    def _send_batch(self, path: str, key: str, payloads: list[str]) -> None:
        """One batch request; a 4xx (a bad event among good ones) splits it to save the rest."""
        project = "" if self.project is None else ',"project":' + to_json(self.project)
        body = (
            '{"' + key + '":[' + ",".join(payloads) + '],"is_single_session":false' + project + "}"
        )
        status = self._send_raw("POST", path, body, len(payloads))
        if status is not None and status in (400, 413, 422) and len(payloads) > 1:
            with self._cond:
                self._counts["rejected"] -= len(payloads)
            half = len(payloads) // 2
            self._send_batch(path, key, payloads[:half])
            self._send_batch(path, key, payloads[half:])

    def _send_raw(self, method: str, path: str, body: str, n: int) -> int | None:
        """Send with retries; count the outcome. Returns the status of a refusal, else None."""
        self._count("requests")
        try:
            send(
                self.transport,
                method,
                path,
                body.encode(),
                self.retry,
                wait=self._abort.wait,
                on_retry=lambda: self._count("retries"),
            )
        except HivelogError as exc:
            if exc.status is not None:
                self._count("rejected", n)
                if exc.status not in (400, 413, 422) or n == 1:
                    log.warning("hivelog refused %d event(s): %s", n, exc)
                return exc.status
            self._count("dropped_failed", n)
            log.warning("hivelog: gave up on %d event(s): %s", n, exc)
            return None
        self._count("sent", n)
        return None
