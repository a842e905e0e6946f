"""The PostgreSQL backend: many hivelog processes, on many hosts, writing one database.

Why it is shaped this way:

- Two writer connections per process (the group-commit writer's two threads, so one batch is
  sent while the database works on the other) and a pool of read-only connections with a
  statement timeout. Every batch is one transaction with a savepoint per job only if a job
  fails, exactly like SQLite; a 2xx still means COMMITted.
- New events go in by COPY, straight into their partitions (bulk WAL records; measured at
  parity with a raw COPY of the same rows). When a key is already stored — a resend, or a real
  session replacing the placeholder created when one of its events came first — the COPY's
  savepoint is rolled back and the rows go through `INSERT … SELECT FROM unnest(arrays)
  ON CONFLICT`, which settles both atomically. Everything else a batch needs is sent as
  pipelines: a few round trips per batch, not per request.
- Events are partitioned by `day`, the day of their *session*, fixed in the `sessions` table the
  first time any process sees the session. A session therefore lives in one partition, a
  resend meets its own key, and retention drops whole days.
- Several processes must converge exactly like one. Unique keys with `ON CONFLICT` settle
  concurrent inserts. The one race keys cannot settle is an update arriving before its event
  (the update is parked in `pending_updates`, the event folds parked updates in when it is
  inserted): two transactions that each cannot see the other's uncommitted row. Each write
  transaction therefore first takes transaction-scoped advisory locks on hash buckets of the
  ids it touches, in sorted order: *shared* for inserted events (inserts never wait for each
  other), *exclusive* for updated ones — so a parked update and the insert of its event are
  always ordered, and whichever commits second sees the first. Deadlocks that remain possible
  between row locks are detected by PostgreSQL and the batch is retried.
"""

from __future__ import annotations

from hivelog.store.postgres.connection import DAY_MS, READ_TIMEOUT_MS, day_of, partition_name
from hivelog.store.postgres.copying import Copying
from hivelog.store.postgres.keys import Keys
from hivelog.store.postgres.reads import Reads
from hivelog.store.postgres.retention import Expiry
from hivelog.store.postgres.views import Views
from hivelog.store.postgres.writes import BUCKETS, Writes

__all__ = ["BUCKETS", "DAY_MS", "READ_TIMEOUT_MS", "PostgresStore", "day_of", "partition_name"]


class PostgresStore(Writes, Reads, Views, Keys, Expiry, Copying):
    """The Store on PostgreSQL, assembled from one mixin per concern:

    - `connection.PostgresBase`: pools, lifecycle, migrations, partitions, shared helpers;
    - `writes.Writes` (with `inserts.Inserts` and `updates.Updates`): the writer thread's path;
    - `reads.Reads`: events for the API; `views.Views`: the web UI and charts;
    - `keys.Keys`: API keys; `retention.Expiry`: retention steps;
    - `copying.Copying`: what `hivelog copy` reads and writes.
    """
