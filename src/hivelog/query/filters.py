"""Event filters of both API generations → a SQL WHERE clause, for every backend.

The one filter implementation: export, search, `GET /events`, charts and the UI all call
`compile_query`. A field is a column (`event_type`, `duration`) or a dotted path into a JSON
field (`metadata.cost`, `inputs.chat_history.0.content`; numeric segments index lists).

One set of query limits for every way in (API, UI pages, CLI export): `compile_query` refuses
more filters than `--max-filters`, and `scoped_where` (which every store read goes through)
a search longer than `--max-search-chars` or with more than MAX_SEARCH_WORDS words. The
server sets them once at start (`configure`).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from hivelog.errors import BadInput
from hivelog.event import JSON_FIELDS
from hivelog.normalize.times import to_ms
from hivelog.store import packing
from hivelog.store.base import EventQuery
from hivelog.wire.rest import DateRange, EventFilterIn

MAX_LIMIT = 7500
DEFAULT_LIMIT = 1000
MAX_PAGE = 1_000_000_000  # offsets past it overflow SQL's 64-bit integers (a 500, not a 400)
MAX_SEARCH_WORDS = 32  # each word is one more condition every candidate row is tested with


@dataclasses.dataclass(frozen=True)
class QueryLimits:
    """What one read may ask for, whichever way it comes in (see the settings of the same name)."""

    max_filters: int = 50
    max_search_chars: int = 256


LIMITS = QueryLimits()


def configure(limits: QueryLimits) -> None:
    """Set the limits every query of this process is held to (from the server's settings)."""
    global LIMITS
    LIMITS = limits


def check_search(text: str | None, where: str = "search") -> None:
    """BadInput if a search is longer than the limits allow."""
    if not text:
        return
    if len(text) > LIMITS.max_search_chars:
        raise BadInput(
            f"search of {len(text)} characters is over the limit of {LIMITS.max_search_chars} "
            "(--max-search-chars)",
            where,
        )
    if len(text.split()) > MAX_SEARCH_WORDS:
        raise BadInput(
            f"search of {len(text.split())} words is over the limit of {MAX_SEARCH_WORDS}", where
        )


TEXT_COLUMNS = (
    "event_id",
    "session_id",
    "parent_id",
    "event_type",
    "event_name",
    "source",
    "error",
)
NUMBER_COLUMNS = ("start_time", "end_time", "duration")
# Scoping is by the request's project, so filters on the project itself match everything.
PROJECT_FIELDS = ("project", "project_id")

OPERATORS = (
    "is",
    "is not",
    "contains",
    "not contains",
    "greater than",
    "less than",
    "exists",
    "not exists",
    "after",
    "before",
)
_OPERATOR_ALIASES = {
    "=": "is",
    "==": "is",
    "eq": "is",
    "equals": "is",
    "!=": "is not",
    "neq": "is not",
    "not equals": "is not",
    ">": "greater than",
    "gt": "greater than",
    "<": "less than",
    "lt": "less than",
    "not_contains": "not contains",
    "not_exists": "not exists",
    "is_not": "is not",
    "greater_than": "greater than",
    "less_than": "less than",
}
_SEGMENT = re.compile(r"^[A-Za-z0-9_\-$@ ]+$")


@dataclasses.dataclass(frozen=True)
class Dialect:
    """How one backend spells JSON access. `json_text`/`json_number` give SQL expressions."""

    json_text: Callable[[str, Sequence[str]], str]
    json_number: Callable[[str, Sequence[str]], str]
    json_exists: Callable[[str, Sequence[str]], str]
    contains: Callable[[str], str]  # expr contains the next parameter, case-insensitively
    mark: str = "?"
    # A JSON column read as JSON text (SQLite stores inputs and outputs packed).
    json_column: Callable[[str], str] = lambda c: c
    # A column compared with a value of the other kind (a text column with a number, a number
    # column with text); as is where the backend converts by itself.
    number_column: Callable[[str], str] = lambda c: c
    text_column: Callable[[str], str] = lambda c: c


def _sqlite_path(segments: Sequence[str]) -> str:
    path = "$"
    for seg in segments:
        path += f"[{seg}]" if seg.isdigit() else '."' + seg.replace('"', "") + '"'
    return path


def _sqlite_text(column: str, segments: Sequence[str]) -> str:
    return f"json_extract({column}, '{_sqlite_path(segments)}')"


SQLITE = Dialect(
    json_column=packing.sql_text,
    json_text=_sqlite_text,
    json_number=_sqlite_text,
    json_exists=lambda c, s: f"json_type({c}, '{_sqlite_path(s)}') IS NOT NULL",
    contains=lambda expr: f"instr(lower({expr}), lower(?)) > 0",
)


def _pg_path(column: str, segments: Sequence[str]) -> str:
    # Segments are checked against _SEGMENT (no quotes), so they can be inlined as literals.
    return f"({column} #> ARRAY[{', '.join(repr(s) for s in segments)}]::text[])"


def _pg_text(column: str, segments: Sequence[str]) -> str:
    return f"({column} #>> ARRAY[{', '.join(repr(s) for s in segments)}]::text[])"


def _pg_number(column: str, segments: Sequence[str]) -> str:
    """Numbers as float8 and booleans as 1/0 (as SQLite's json_extract); anything else NULL."""
    value = _pg_path(column, segments)
    return (
        f"(CASE jsonb_typeof({value}) WHEN 'number' THEN ({value} #>> '{{}}')::float8 "
        f"WHEN 'boolean' THEN CASE WHEN {value} = 'true'::jsonb THEN 1.0 ELSE 0.0 END END)"
    )


POSTGRES = Dialect(
    json_text=_pg_text,
    json_number=_pg_number,
    json_exists=lambda c, s: f"{_pg_path(c, s)} IS NOT NULL",
    contains=lambda expr: f"strpos(lower(({expr})::text), lower(%s)) > 0",
    mark="%s",
)


def _ch_path(segments: Sequence[str]) -> str:
    # JSONExtract* take keys as strings and list positions as 1-based integers.
    return ", ".join(str(int(s) + 1) if s.isdigit() else repr(s) for s in segments)


def _ch_text(column: str, segments: Sequence[str]) -> str:
    """Strings as their text, other values as their JSON (as PostgreSQL's #>>), null NULL."""
    path = _ch_path(segments)
    return (
        f"multiIf(JSONType({column}, {path}) = 'String', JSONExtractString({column}, {path}), "
        f"JSONType({column}, {path}) = 'Null', NULL, JSONExtractRaw({column}, {path}))"
    )


def _ch_number(column: str, segments: Sequence[str]) -> str:
    """Numbers as Float64 and booleans as 1/0 (as SQLite's json_extract); anything else NULL."""
    path = _ch_path(segments)
    return (
        f"multiIf(JSONType({column}, {path}) IN ('Int64', 'UInt64', 'Double'), "
        f"JSONExtractFloat({column}, {path}), JSONType({column}, {path}) = 'Bool', "
        f"toFloat64(JSONExtractBool({column}, {path})), NULL)"
    )


CLICKHOUSE = Dialect(
    json_text=_ch_text,
    json_number=_ch_number,
    json_exists=lambda c, s: f"ifNull(JSONHas({c}, {_ch_path(s)}), 0) = 1",
    contains=lambda expr: f"positionCaseInsensitiveUTF8(toString({expr}), ?) > 0",
    # ClickHouse refuses to compare text with numbers: convert the column, not the value.
    number_column=lambda c: f"toFloat64OrNull(toString({c}))",
    text_column=lambda c: f"toString({c})",
)

DIALECTS: dict[str, Dialect] = {"sqlite": SQLITE, "postgres": POSTGRES, "clickhouse": CLICKHOUSE}


def _operator(raw: str, where: str) -> str:
    op = raw.strip().lower()
    op = _OPERATOR_ALIASES.get(op, op)
    if op not in OPERATORS:
        raise BadInput(f"unknown operator {raw!r}; expected one of {', '.join(OPERATORS)}", where)
    return op


def _kind(f: EventFilterIn, op: str) -> str:
    if f.type:
        kind = f.type.lower()
        if kind in ("id", "string", "text"):
            return "string"
        if kind in ("number", "boolean", "datetime"):
            return kind
        raise BadInput(f"unknown filter type {f.type!r}", "type")
    if op in ("after", "before"):
        return "datetime"
    if isinstance(f.value, bool):
        return "boolean"
    if isinstance(f.value, (int, float)):
        return "number"
    return "string"


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        raise BadInput(f"value {value!r} is not a number", where) from None


def _boolean(value: Any, where: str) -> int:
    if isinstance(value, bool):
        return int(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return 1
    if text in ("false", "0", "no"):
        return 0
    raise BadInput(f"value {value!r} is not a boolean", where)


def _field(field: str, where: str) -> tuple[str, list[str]]:
    """(column, JSON path segments) of a dotted field name."""
    parts = field.strip().split(".")
    head, rest = parts[0], parts[1:]
    if not head or any(not _SEGMENT.match(p) for p in parts):
        raise BadInput(f"invalid field name {field!r}", where)
    if head in JSON_FIELDS or head == "children_ids":
        return head, rest
    if head in TEXT_COLUMNS or head in NUMBER_COLUMNS:
        if rest:
            raise BadInput(f"{head} has no sub-fields", where)
        return head, []
    raise BadInput(
        f"unknown field {field!r}; use a column ({', '.join(TEXT_COLUMNS + NUMBER_COLUMNS)}) "
        f"or a dotted path into {', '.join(JSON_FIELDS)}",
        where,
    )


def _compile_one(f: EventFilterIn, where: str, d: Dialect, params: list[Any]) -> str:
    op = _operator(f.operator, f"{where}.operator")
    if f.field in PROJECT_FIELDS:
        return "1 = 1"
    column, path = _field(f.field, f"{where}.field")
    kind = _kind(f, op)
    is_json = bool(path) or column in JSON_FIELDS or column == "children_ids"
    source = d.json_column(column) if is_json else column

    if op in ("exists", "not exists"):
        if path:
            expr = d.json_exists(source, path)
            return expr if op == "exists" else f"NOT ({expr})"
        return f"{column} IS {'NOT ' if op == 'exists' else ''}NULL"

    if f.value is None:
        raise BadInput(f"operator {op!r} needs a value", f"{where}.value")
    if is_json and not path and op not in ("contains", "not contains"):
        raise BadInput(
            f"{column} is a whole object; compare a value in it ({column}.<key>) or use contains",
            f"{where}.field",
        )
    numeric = kind in ("number", "datetime", "boolean") or op in ("greater than", "less than")
    if is_json and path:
        expr = d.json_number(source, path) if numeric else d.json_text(source, path)
    elif numeric and column not in NUMBER_COLUMNS:
        expr = d.number_column(column)
    elif not numeric and column in NUMBER_COLUMNS:
        expr = d.text_column(column)
    else:
        expr = source

    if op in ("contains", "not contains"):
        params.append(str(f.value))
        test = d.contains(expr)
        return test if op == "contains" else f"({expr} IS NULL OR NOT {test})"

    value: Any
    if kind == "datetime":
        value = to_ms(f.value, f"{where}.value")
    elif kind == "boolean":
        value = _boolean(f.value, f"{where}.value")
    elif numeric:
        value = _number(f.value, f"{where}.value")
    else:
        value = str(f.value)
    params.append(value)
    mark = d.mark
    if op == "is":
        return f"{expr} = {mark}"
    if op == "is not":
        return f"({expr} IS NULL OR {expr} != {mark})"
    if op in ("greater than", "after"):
        return f"{expr} > {mark}"
    return f"{expr} < {mark}"


def compile_query(
    dialect: str,
    filters: Sequence[EventFilterIn] | None,
    date_range: DateRange | None,
    limit: int | float | None,
    page: int | float | None,
    *,
    newest_first: bool = False,
    where: str = "$.filters",
) -> EventQuery:
    """Filters (ANDed), a start-time range, and paging → one EventQuery."""
    d = DIALECTS[dialect]
    clauses: list[str] = []
    params: list[Any] = []
    if filters and len(filters) > LIMITS.max_filters:
        raise BadInput(
            f"{len(filters)} filters is over the limit of {LIMITS.max_filters} (--max-filters)",
            where,
        )
    for i, f in enumerate(filters or ()):
        clauses.append(_compile_one(f, f"{where}[{i}]", d, params))
    if date_range is not None:
        gte = to_ms(date_range.gte, "$.dateRange.$gte")
        lte = to_ms(date_range.lte, "$.dateRange.$lte")
        if gte is not None:
            clauses.append(f"start_time >= {d.mark}")
            params.append(gte)
        if lte is not None:
            clauses.append(f"start_time <= {d.mark}")
            params.append(lte)
    if limit is not None and not math.isfinite(limit):
        raise BadInput("limit must be a finite number", "$.limit")
    if page is not None and not (math.isfinite(page) and page <= MAX_PAGE):
        raise BadInput(f"page must be a number from 1 to {MAX_PAGE}", "$.page")
    size = DEFAULT_LIMIT if limit is None else int(limit)
    if size < 1:
        raise BadInput("limit must be at least 1", "$.limit")
    size = min(size, MAX_LIMIT)
    number = 1 if page is None else int(page)
    if number < 1:
        raise BadInput("page must be at least 1", "$.page")
    return EventQuery(
        where=" AND ".join(clauses),
        params=params,
        limit=size,
        offset=(number - 1) * size,
        newest_first=newest_first,
    )


def scoped_where(
    dialect: str,
    project_key: int,
    query: EventQuery,
    search: Callable[[str], tuple[str, list[Any]]],
) -> tuple[str, list[Any]]:
    """`project = ? AND (query.where) AND (search)` with its parameters: every read of a store
    is scoped to one project here, whatever backend spells the search."""
    mark = DIALECTS[dialect].mark
    clauses, params = [f"project = {mark}"], [project_key]
    if query.where:
        clauses.append(f"({query.where})")
        params.extend(query.params)
    if query.search:
        check_search(query.search)
        sql, search_params = search(query.search)
        if sql:
            clauses.append(sql)
            params.extend(search_params)
    return " AND ".join(clauses), params
