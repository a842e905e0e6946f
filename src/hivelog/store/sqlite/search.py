"""Full-text search over inputs and outputs as SQL: every word must occur.

Words of three or more characters use the FTS5 trigram index for the rows indexed so far and a
direct test for the newer rows above the index's mark; shorter words (common in Chinese and
Japanese) are tested directly.
"""

from __future__ import annotations

from typing import Any

_TRIGRAM = 3  # the FTS5 trigram tokenizer indexes runs of 3 characters
_CONTAINS = "(instr(lower(inputs), lower(?)) > 0 OR instr(lower(outputs), lower(?)) > 0)"


def search_sql(text: str) -> tuple[str, list[Any]]:
    """Every word must occur in inputs or outputs. Words of 3+ characters use the FTS index
    for the rows indexed so far and a direct test for the newer ones above the mark; shorter
    words (common in Chinese and Japanese) are tested directly on the rows the other clauses
    leave."""
    words = text.split()
    indexed = [w for w in words if len(w) >= _TRIGRAM]
    clauses: list[str] = []
    params: list[Any] = []
    if indexed:
        tail = " AND ".join(_CONTAINS for _ in indexed)
        clauses.append(
            "seq IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ? UNION ALL "
            "SELECT seq FROM events WHERE seq > (SELECT indexed_seq FROM search_state) "
            f"AND {tail})"
        )
        params.append(" AND ".join('"' + w.replace('"', '""') + '"' for w in indexed))
        for w in indexed:
            params.extend((w, w))
    for w in words:
        if len(w) < _TRIGRAM:
            clauses.append(_CONTAINS)
            params.extend((w, w))
    return " AND ".join(clauses), params
