"""Operator reports without SQL: recent runs from ops.pipeline_runs, the files an operator set aside or replayed
from ops.ingested_files, rejected rows by rule from a quarantine."""

from __future__ import annotations

from pathlib import Path

from deltalake import DeltaTable

from paylake.analytics.lake_sql import QueryResult, lake_tables, run_query, table_has
from paylake.contract import INGESTED_FILES, QUARANTINE_SUFFIX, SOURCE_FILE, SOURCE_ROW
from paylake.errors import UsageError

RUNS_SQL = """
SELECT run_id, layer, any_value(as_of) AS as_of, min(started_at) AS started_at,
       CASE WHEN bool_or(status = 'FAILED') THEN 'FAILED'
            WHEN bool_or(status = 'SKIPPED') THEN 'PARTIAL' ELSE 'SUCCESS' END AS status,
       round(sum(seconds), 1) AS seconds, count(*) AS tables,
       sum(CASE WHEN status <> 'SUCCESS' THEN 1 ELSE 0 END) AS not_ok,
       sum(rows_read) AS rows_read, sum(rows_loaded) AS rows_loaded, sum(rows_rejected) AS rows_rejected,
       sum(rows_read - rows_loaded - rows_rejected) AS rows_held_back
FROM ops.pipeline_runs
GROUP BY run_id, layer
ORDER BY started_at DESC, CASE layer WHEN 'bronze' THEN 1 WHEN 'silver' THEN 2 WHEN 'gold' THEN 3 ELSE 4 END DESC
LIMIT {limit}
"""


def recent_runs(lake_root: str | Path, limit: int = 20) -> QueryResult:
    """The latest ``limit`` layer runs, newest first: status, duration, tables and row counts."""
    return run_query(lake_root, RUNS_SQL.format(limit=int(limit)), "ops.pipeline_runs")


FILE_DECISIONS_SQL = """
SELECT "table", file_name, extract_date, action, ingested_at AS recorded_at, note AS reason
FROM ops.ingested_files
WHERE action IN ('skipped', 'replay')
ORDER BY ingested_at DESC
LIMIT {limit}
"""


def file_decisions(lake_root: str | Path, limit: int = 20) -> QueryResult | None:
    """The latest ``limit`` files set aside (``paylake skip``) or replayed (``paylake replay``), newest first;
    None when there are none (or the file log predates them)."""
    if not table_has(lake_root, str(INGESTED_FILES), "action"):
        return None
    found = run_query(lake_root, FILE_DECISIONS_SQL.format(limit=int(limit)), str(INGESTED_FILES))
    return found if found.rows else None


def quarantine_table(name: str) -> tuple[str, str]:
    """``<layer>.<table>`` (bronze when no layer is given) -> (layer, quarantine table name)."""
    layer, _, table = name.rpartition(".")
    table = table if table.endswith(QUARANTINE_SUFFIX) else f"{table}{QUARANTINE_SUFFIX}"
    return layer or "bronze", table


def quarantine_summary(lake_root: str | Path, name: str, examples: int = 3) -> str:
    """Rejected rows of a table's quarantine grouped by rule, with up to ``examples`` rows each (where and why).

    Raises:
        UsageError: the quarantine table does not exist (names the ones that do).
    """
    layer, table = quarantine_table(name)
    tables = lake_tables(lake_root)
    if f"{layer}.{table}" not in tables:
        found = [t for t in tables if t.endswith(QUARANTINE_SUFFIX)]
        raise UsageError(f"no quarantine table {layer}.{table}; quarantines: {', '.join(found) or 'none yet'}")
    columns = DeltaTable(str(tables[f"{layer}.{table}"])).schema().to_arrow().names
    full = f'"{layer}"."{table}"'
    # A data row is the n-th record after the header (a quoted value spanning lines counts once): line n + 1 of a
    # file without such values. Examples are ordered by file, then row number.
    lineage = {SOURCE_FILE, SOURCE_ROW} <= set(columns)
    where = f"{SOURCE_FILE} || ' data row ' || {SOURCE_ROW}" if lineage else "'output row'"
    order = f"{SOURCE_FILE}, {SOURCE_ROW}" if lineage else "reason"
    total = run_query(lake_root, f"SELECT count(*) FROM {full}").rows[0][0]
    by_rule = run_query(
        lake_root,
        f"""
        WITH failures AS (
            SELECT unnest(_dq_rules) AS rule, {where} AS location, _dq_reason AS reason, {order} FROM {full}
        ),
        ranked AS (SELECT *, row_number() OVER (PARTITION BY rule ORDER BY {order}) AS n,
                          count(*) OVER (PARTITION BY rule) AS failed FROM failures)
        SELECT rule, failed, location, reason FROM ranked WHERE n <= {int(examples)} ORDER BY failed DESC, rule, n
        """,
    ).rows
    lines = [f"{layer}.{table}: {total} rejected row{'s' if total != 1 else ''}"]
    current = None
    for rule, failed, location, reason in by_rule:
        if rule != current:
            lines.append(f"  {rule}: {failed} row{'s' if failed != 1 else ''}")
            current = rule
        lines.append(f"    {location}  {reason}")
    return "\n".join(lines)
