"""SQL over the local lakehouse with DuckDB: every Delta table as ``<layer>.<table>``, read through delta-rs.

No Spark is started, so a query answers in about a second. Only the tables a query names are loaded (as Arrow
tables: DuckDB's filter pushdown into delta-rs' Arrow datasets fails on string filters with this pyarrow, so
paylake does not register the lazy datasets). On Databricks, analysts use Databricks SQL on the same tables in
Unity Catalog instead.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from deltalake import DeltaTable

from paylake.contract import LAKE_LAYERS
from paylake.errors import UsageError


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows of a query."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


def lake_tables(lake_root: str | Path) -> dict[str, Path]:
    """Every Delta table under a local lake root, as ``<layer>.<table>`` -> its folder.

    Raises:
        UsageError: the lake root is not a local folder.
    """
    root = Path(lake_root)
    if "://" in str(lake_root) or not root.is_dir():
        raise UsageError(f"lake {lake_root} is not a local folder; run the pipeline first (e.g. make demo)")
    return {
        f"{layer}.{table.name}": table
        for layer in LAKE_LAYERS
        if (root / layer).is_dir()
        for table in sorted((root / layer).iterdir())
        if (table / "_delta_log").is_dir()
    }


def table_has(lake_root: str | Path, table: str, column: str) -> bool:
    """Whether the lake has ``table`` (``<layer>.<table>``) with ``column`` (a lake older than the column lacks it)."""
    path = lake_tables(lake_root).get(table)
    return path is not None and column in DeltaTable(str(path)).schema().to_arrow().names


_REFERENCE = re.compile(r'"?\b(bronze|silver|gold|ops)"?\."?([a-z][a-z0-9_]*)"?', re.IGNORECASE)


def connect(lake_root: str | Path, sql: str) -> duckdb.DuckDBPyConnection:
    """An in-memory, read-only DuckDB connection where every table ``sql`` names is the view ``<layer>.<table>``
    (its rows loaded into memory); the query can reach no file."""
    tables = lake_tables(lake_root)
    connection = duckdb.connect(":memory:")
    for schema in LAKE_LAYERS:
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    for layer, table in {(m.group(1).lower(), m.group(2).lower()) for m in _REFERENCE.finditer(sql)}:
        folder = tables.get(f"{layer}.{table}")
        if folder is None:
            continue  # DuckDB reports it, and query() lists the tables there are
        relation = f"_{layer}__{table}"
        connection.register(relation, DeltaTable(str(folder)).to_pyarrow_table())
        connection.execute(f'CREATE VIEW "{layer}"."{table}" AS SELECT * FROM "{relation}"')
    # Read-only from here: the lake's tables are in memory, so the query needs no file, no extension and no
    # other database; COPY ... TO, ATTACH, read_text/read_csv of any path, INSTALL and LOAD are refused, and the
    # setting is locked so the query cannot turn it back on.
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")
    return connection


def run_query(lake_root: str | Path, sql: str, source: str = "query") -> QueryResult:
    """Run ``sql`` on the lake (the last statement's rows are returned).

    Raises:
        UsageError: bad SQL or an unknown table; names ``source`` (e.g. the .sql file) and lists the tables.
    """
    connection = connect(lake_root, sql)
    try:
        cursor = connection.execute(sql)
    except duckdb.CatalogException as exc:
        known = ", ".join(lake_tables(lake_root)) or "none (run the pipeline first)"
        raise UsageError(f"{source}: {_first_line(exc)}; tables: {known}") from None
    except duckdb.Error as exc:
        raise UsageError(f"{source}: {_first_line(exc)}") from None
    if cursor.description is None:
        return QueryResult([], [])
    return QueryResult([d[0] for d in cursor.description], cursor.fetchall())


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value == value else "NaN"
    if isinstance(value, datetime | date | Decimal):
        return str(value)
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str)
    return str(value)


# A text cell a spreadsheet would run as a formula (OWASP "CSV injection"); such cells get a leading quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Characters that would drive a terminal (escape sequences, carriage returns, bells); a table shows them escaped.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _csv_cell(value: Any) -> str:
    """A CSV cell: text that starts like a formula is prefixed with ``'``; numbers stay numbers."""
    text = _text(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _shown(text: str) -> str:
    """A table cell with control characters escaped (``\\x1b``), so data cannot drive the terminal."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


def render(result: QueryResult, fmt: str = "table", max_width: int = 60) -> str:
    """The rows as an aligned table (numbers right-aligned, long values cut, control characters escaped), CSV
    (text that starts like a formula prefixed with ``'``) or JSON (one object per row)."""
    if fmt == "json":
        return json.dumps([dict(zip(result.columns, row, strict=True)) for row in result.rows], default=str, indent=1)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180; a value holding "\r" is then quoted
        writer.writerow(result.columns)
        writer.writerows([[_csv_cell(v) for v in row] for row in result.rows])
        return out.getvalue().removesuffix("\r\n")
    cells = [[_cut(_shown(_text(v)), max_width) for v in row] for row in result.rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(result.columns)]
    numeric = [
        all(isinstance(row[i], int | float | Decimal) or row[i] is None for row in result.rows)
        for i in range(len(result.columns))
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)
        ).rstrip()

    lines = [line(result.columns), "  ".join("-" * w for w in widths)]
    lines += [line(row) for row in cells]
    lines.append(f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''})")
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 3] + "..."
