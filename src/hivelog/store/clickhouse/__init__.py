"""The ClickHouse backend: past one database machine (`clickhouse://`), or the embedded engine
(`chdb:PATH`) for a single-process analytics box and for the tests.

Why it is shaped this way (docs/scaling.md has the figures and the cluster layout):

- One transport seam, `execute(sql, params, data)` (transport.py): a server over HTTP, or the
  embedded engine. Every statement, DDL and migration runs the same on both.
- ClickHouse has no transactions, unique keys or in-place updates. Idempotency comes from the
  table key (ReplacingMergeTree: a resend is a second row that `FINAL` collapses), updates are
  append-only patches folded deterministically (writes.py), placeholder sessions are derived
  from `sessions_agg` at read time (connection.events_of), and durability from fsync settings
  on every table (single node) or `insert_quorum` (a cluster).
- The group-commit writer's batch becomes one INSERT per table, so parts stay few and large.
- Everything the other backends share is reused: the Store protocol, row conversion and
  children derivation (store/rows.py), placeholders' shape, the filter compiler
  (query/filters.py, a ClickHouse dialect), `apply_update` for the meaning of an update.
"""

from __future__ import annotations

from hivelog.store.clickhouse.copying import Copying
from hivelog.store.clickhouse.retention import Expiry
from hivelog.store.clickhouse.transport import display
from hivelog.store.clickhouse.views import Views
from hivelog.store.clickhouse.writes import Writes

__all__ = ["ClickHouseStore", "display"]


class ClickHouseStore(Writes, Views, Copying, Expiry):
    """The Store on ClickHouse, assembled from one mixin per concern:

    - `connection.ClickHouseBase`: transport, migrations, projects, the events subquery;
    - `writes.Writes`: the writer thread's path; `reads.Reads`: events for the API;
    - `views.Views`: the web UI and charts; `keys.Keys` (in `copying.Copying`): API keys;
      `copying.Copying`: what `hivelog copy` reads and writes; `retention.Expiry`.
    """
