"""A fairness rule for a shared read pool: no project holds more than its share of it.

Why: reads of every project share one pool of database connections. Without a rule, a dozen
slow reads of one project (long searches over a big project) take every connection, and a
one-row read of another project waits for them. With it, a project runs at most
`per_project` reads at once; its further reads wait for one of its own to finish (holding
no connection meanwhile), so the rest of the pool stays free for the other projects. A read
that cannot start within its time budget is refused with 503 + Retry-After, never left to hang,
and so is one that finds as many of its project's reads already waiting as may run: a waiting
read holds a server thread, and one project must not hold all of them either.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from hivelog.errors import Overloaded


class ProjectSlots:
    """At most `per_project` reads of one project at once, whatever the others do."""

    def __init__(self, per_project: int) -> None:
        self.per_project = max(1, per_project)
        self._running: dict[int, int] = {}
        self._waiting: dict[int, int] = {}
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def hold(self, project: int | None, deadline: float) -> Iterator[None]:
        """Run the block as one of `project`'s reads, waiting until `deadline` (monotonic
        seconds) for a slot; None is no project (reads across projects are not limited)."""
        if project is None:
            yield
            return
        with self._changed:
            if self._running.get(project, 0) >= self.per_project:
                if self._waiting.get(project, 0) >= self.per_project:
                    raise self._busy()
                self._waiting[project] = self._waiting.get(project, 0) + 1
                try:
                    while self._running.get(project, 0) >= self.per_project:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise self._busy()
                        self._changed.wait(left)
                finally:
                    self._waiting[project] -= 1
                    if not self._waiting[project]:
                        del self._waiting[project]
            self._running[project] = self._running.get(project, 0) + 1
        try:
            yield
        finally:
            with self._changed:
                left_running = self._running[project] - 1
                if left_running:
                    self._running[project] = left_running
                else:
                    del self._running[project]
                self._changed.notify_all()

    def _busy(self) -> Overloaded:
        return Overloaded(
            f"this project already runs {self.per_project} reads at once, the most one project "
            "may, and as many wait; retry when one of them is done",
            retry_after=1,
        )
