"""Full-text search over inputs and outputs as SQL: every word must occur, in any script.

The FTS5 index holds trigrams without positions (`detail=none`: a sixth of the size of a full
trigram index, and faster to fill), so it only narrows the rows down: a row whose inputs or
outputs hold every trigram of every word. Each candidate is then confirmed by a direct,
case-folded substring test (`ulower`, Python's Unicode lowercase, registered on each read
connection), which keeps results exact. Rows above the index's mark (not indexed yet) and rows
whose text changed since they were indexed (`search_stale`, not re-indexed yet) are all
candidates; words under three characters (common in Chinese and Japanese) have no trigram and
are confirmed directly.
"""

from __future__ import annotations

import sqlite3
from typing import Any

_TRIGRAM = 3  # the FTS5 trigram tokenizer indexes runs of 3 characters
_CONTAINS = "(instr(ulower(unpack(inputs)), ?) > 0 OR instr(ulower(unpack(outputs)), ?) > 0)"


def _ulower(text: str | None) -> str | None:
    return text.lower() if text is not None else None


def register(conn: sqlite3.Connection) -> None:
    """The SQL functions search needs, on a read connection."""
    conn.create_function("ulower", 1, _ulower, deterministic=True)


def _trigrams(word: str) -> list[str]:
    """The word's trigrams as FTS5 strings; none holding U+0000, which FTS5 query syntax
    cannot carry (the direct confirmation still tests the whole word)."""
    grams = (word[i : i + _TRIGRAM] for i in range(len(word) - 2))
    return ['"' + g.replace('"', '""') + '"' for g in grams if "\x00" not in g]


def search_sql(text: str) -> tuple[str, list[Any]]:
    """`(candidates) AND (confirmation of each word)`, with its parameters."""
    words = [w.lower() for w in text.split()]
    clauses: list[str] = []
    params: list[Any] = []
    grams = [g for w in words for g in _trigrams(w)]
    if grams:
        clauses.append(
            "seq IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ? UNION ALL "
            "SELECT seq FROM events WHERE seq > (SELECT indexed_seq FROM search_state) "
            "UNION ALL SELECT seq FROM search_stale)"
        )
        params.append(" AND ".join(dict.fromkeys(grams)))
    for w in words:
        clauses.append(_CONTAINS)
        params.extend((w, w))
    return " AND ".join(clauses), params
