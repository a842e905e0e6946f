"""Ordered, named schema migrations, shared by every backend.

Each migration is a module `mNNNN_name.py` holding the SQL per backend (`SQLITE`,
`POSTGRES`, `CLICKHOUSE`; an empty string when a backend has nothing to do). Applied ones are
recorded in `schema_migrations`, so running them again is a no-op.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def migrations() -> list[tuple[str, ModuleType]]:
    """All migrations as (name, module), in the order of their number."""
    names = sorted(
        info.name for info in pkgutil.iter_modules(__path__) if info.name.startswith("m")
    )
    return [(name[1:], importlib.import_module(f"{__name__}.{name}")) for name in names]


def sql_for(module: ModuleType, dialect: str) -> str:
    sql = getattr(module, dialect.upper(), None)
    if not isinstance(sql, str):
        raise RuntimeError(f"migration {module.__name__} has no SQL for {dialect}")
    return sql
