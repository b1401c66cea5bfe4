"""The SCD2 specification of :mod:`paylake.bronze.scd2` as DuckDB SQL text, step for step with the same names.

Pure functions from an :class:`~paylake.bronze.scd2.Scd2Spec` to SQL over the relations ``batch`` (the gated
rows), ``current`` (the target's current and last versions) and ``presence`` (the keys a snapshot delivered);
:mod:`paylake.bronze.scd2_duckdb` registers the relations and runs the queries.
"""

from __future__ import annotations

from datetime import date

from paylake.bronze.scd2 import CHANGE, Scd2Spec
from paylake.contract import (
    EFFECTIVE_FROM,
    EFFECTIVE_TO,
    EXTRACT_DATE,
    IS_CURRENT,
    RECORD_VERSION,
    ROW_HASH,
    SOURCE_FILE,
    SOURCE_ROW,
)


def q(name: str) -> str:
    """``name`` as a quoted DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def qlist(names: list[str] | tuple[str, ...], prefix: str = "") -> str:
    """``names`` quoted, each after ``prefix`` (a relation alias), separated by commas."""
    return ", ".join(prefix + q(n) for n in names)


def events_sql(spec: Scd2Spec, has_current: bool, has_presence: bool, applied_through: date | None) -> str:
    """The events of :func:`paylake.bronze.scd2._events` (upserts, current versions, deletes), over the relations
    ``batch``, ``current`` and ``presence``."""
    keys, seq = list(spec.keys), q(spec.sequence_column)
    k, cols = qlist(keys), qlist(spec.columns)
    superseded = spec.snapshot and applied_through is not None
    after_applied = f"{q(EXTRACT_DATE)} > DATE '{applied_through}'" if superseded else "TRUE"
    ctes = [
        # Rows repeating a key and sequence value in one extract date's deliveries collapse to the last row of the
        # file whose name sorts last (an original, then its _v<N> corrections); only those need a window.
        f"""repeated AS (SELECT {k}, {seq}, {q(EXTRACT_DATE)} FROM batch GROUP BY ALL HAVING count(*) > 1),
        latest AS (
            SELECT * FROM batch ANTI JOIN repeated USING ({k}, {seq}, {q(EXTRACT_DATE)})
            UNION ALL BY NAME
            SELECT * FROM batch SEMI JOIN repeated USING ({k}, {seq}, {q(EXTRACT_DATE)})
            QUALIFY row_number() OVER (
                PARTITION BY {k}, {seq}, {q(EXTRACT_DATE)} ORDER BY {q(SOURCE_FILE)} DESC, {q(SOURCE_ROW)} DESC
            ) = 1
        ),
        upserts AS (
            SELECT {cols}, {q(EXTRACT_DATE)}, 'U' AS _kind, 1 AS _kind_order, CAST({seq} AS TIMESTAMPTZ) AS _seq,
                   {q(ROW_HASH)}, {q(SOURCE_ROW)} AS _row, CAST(NULL AS TIMESTAMPTZ) AS {q(EFFECTIVE_FROM)},
                   CAST(NULL AS INTEGER) AS {q(RECORD_VERSION)}, CAST(NULL AS BOOLEAN) AS _was_current
            FROM latest
        )""",
    ]
    events = [f"SELECT * FROM upserts WHERE {after_applied}"]
    if has_current:
        ctes.append(
            f"""existing AS (
            SELECT {cols}, CAST(NULL AS DATE) AS {q(EXTRACT_DATE)}, 'C' AS _kind, 0 AS _kind_order,
                   CAST({seq} AS TIMESTAMPTZ) AS _seq, {q(ROW_HASH)}, 0 AS _row, {q(EFFECTIVE_FROM)},
                   {q(RECORD_VERSION)}, {q(IS_CURRENT)} AS _was_current
            FROM current
        )"""
        )
        ctes.append(
            f"""ended AS (
            SELECT {k}, CAST(NULL AS DATE) AS {q(EXTRACT_DATE)}, 'D' AS _kind, 2 AS _kind_order,
                   {q(EFFECTIVE_TO)} AS _seq, 0 AS _row
            FROM current WHERE NOT {q(IS_CURRENT)}
        )"""
        )
        events += ["SELECT * FROM existing", "SELECT * FROM ended"]
    if spec.snapshot and has_presence:
        live = f"SELECT {k} FROM current WHERE {q(IS_CURRENT)}" if has_current else f"SELECT {k} FROM seen LIMIT 0"
        ctes.append(
            f"""seen AS (SELECT DISTINCT {k}, {q(EXTRACT_DATE)}, TRUE AS _present FROM presence),
            live_before AS (SELECT DISTINCT {k}, TRUE AS _live_before FROM ({live})),
            known AS (SELECT {k} FROM seen UNION SELECT {k} FROM live_before),
            grid AS (
                SELECT {qlist(keys, "known.")}, dates.{q(EXTRACT_DATE)}, coalesce(seen._present, FALSE) AS _present,
                       coalesce(lag(coalesce(seen._present, FALSE)) OVER (
                           PARTITION BY {qlist(keys, "known.")} ORDER BY dates.{q(EXTRACT_DATE)}),
                           coalesce(live_before._live_before, FALSE)) AS _was_present
                FROM known
                CROSS JOIN (SELECT DISTINCT {q(EXTRACT_DATE)} FROM presence) AS dates
                LEFT JOIN seen USING ({k}, {q(EXTRACT_DATE)})
                LEFT JOIN live_before USING ({k})
            ),
            deletes AS (
                SELECT {k}, {q(EXTRACT_DATE)}, 'D' AS _kind, 2 AS _kind_order,
                       CAST({q(EXTRACT_DATE)} AS TIMESTAMPTZ) AS _seq, 0 AS _row
                FROM grid WHERE NOT _present AND _was_present AND {after_applied}
            )"""
        )
        events.append("SELECT * FROM deletes")
    return "WITH " + ",\n".join(ctes) + "\n" + " UNION ALL BY NAME ".join(events)


def changes_sql(spec: Scd2Spec) -> str:
    """The rest of :func:`paylake.bronze.scd2.scd2_changes`, over the relation ``events``: the rows of
    :func:`events_sql`, each with a unique number ``_id``."""
    keys = list(spec.keys)
    k = qlist(keys)
    order = f"{q(EXTRACT_DATE)} ASC NULLS FIRST, _kind_order ASC, _seq ASC NULLS FIRST, _row ASC"
    newest_first = f"{q(EXTRACT_DATE)} DESC NULLS LAST, _kind_order DESC, _seq DESC NULLS LAST, _row DESC"
    by_key = f"PARTITION BY {k} ORDER BY {order}"
    upto_here = f"({by_key} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    before_in_key = f"({by_key} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
    in_segment = f"PARTITION BY {k}, _segment ORDER BY {order}"
    before_in_segment = f"({in_segment} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
    is_delete = "CASE WHEN _kind = 'D' THEN 1 ELSE 0 END"
    narrow = [
        "_id",
        *keys,
        EXTRACT_DATE,
        "_kind",
        "_kind_order",
        "_seq",
        "_row",
        ROW_HASH,
        EFFECTIVE_FROM,
        RECORD_VERSION,
        "_was_current",
    ]
    non_key = [c for c in spec.columns if c not in keys]
    # A key with one event needs no window: a lone upsert is a first version, a lone current row or delete
    # changes nothing. That is most keys of an initial load, so only the rest go through the window passes.
    return f"""
        WITH several AS (SELECT {k} FROM events GROUP BY {k} HAVING count(*) > 1),
        single AS (
            SELECT * FROM events ANTI JOIN several USING ({k}) WHERE _kind = 'U'
        ),
        e1 AS (
            SELECT {qlist(narrow)}, coalesce(sum(1 - {is_delete}) OVER {before_in_key}, 0) > 0 AS _anything_before
            FROM events SEMI JOIN several USING ({k})
        ),
        e2 AS (
            SELECT *, sum({is_delete}) OVER {upto_here} - {is_delete} AS _segment
            FROM e1 WHERE _kind <> 'D' OR _anything_before
        ),
        e3 AS (SELECT *, max(_seq) OVER {before_in_segment} AS _newest_before FROM e2),
        e4 AS (SELECT * FROM e3 WHERE _kind <> 'U' OR _newest_before IS NULL OR _seq > _newest_before),
        e5 AS (
            SELECT *,
                (_kind = 'C')
                OR (_kind = 'U' AND (lag({q(ROW_HASH)}) OVER ({in_segment}) IS NULL
                                     OR lag({q(ROW_HASH)}) OVER ({in_segment}) <> {q(ROW_HASH)}))
                OR (_kind = 'D' AND coalesce(sum(CASE WHEN _kind <> 'D' THEN 1 ELSE 0 END)
                                             OVER {before_in_segment}, 0) > 0) AS _starts
            FROM e4
        ),
        e6 AS (
            SELECT *, sum(CAST(_starts AS INTEGER)) OVER {upto_here} AS _run
            FROM e5 WHERE _kind <> 'D' OR _starts
        ),
        run_data AS (
            SELECT {k}, _run, _id AS _latest_id, _seq AS _latest_seq
            FROM e6
            QUALIFY row_number() OVER (PARTITION BY {k}, _run ORDER BY {newest_first}) = 1
        ),
        kept AS (
            SELECT *, row_number() OVER ({in_segment}) = 1 AS _first_in_segment FROM e6 WHERE _starts
        ),
        based AS (
            SELECT *, max(CASE
                WHEN _kind = 'C' THEN {q(EFFECTIVE_FROM)}
                WHEN _kind = 'U' AND _segment > 0 AND _first_in_segment
                    THEN greatest(_seq, CAST({q(EXTRACT_DATE)} AS TIMESTAMPTZ))
                ELSE _seq END) OVER {upto_here} AS _at
            FROM kept
        ),
        chained AS (
            SELECT {k}, _run, _kind, _seq, _was_current, _at AS {q(EFFECTIVE_FROM)},
                   lead(_at) OVER ({by_key}) AS {q(EFFECTIVE_TO)},
                   CAST(coalesce(max(CASE WHEN _kind = 'C' THEN {q(RECORD_VERSION)} END) OVER (PARTITION BY {k}), 0)
                        + sum(CASE WHEN _kind = 'U' THEN 1 ELSE 0 END) OVER {upto_here} AS INTEGER)
                       AS {q(RECORD_VERSION)},
                   {q(ROW_HASH)}
            FROM based
        ),
        changes AS (
            SELECT {qlist(keys, "c.")}, {qlist(non_key, "w.")},
                   c.{q(EFFECTIVE_FROM)}, c.{q(EFFECTIVE_TO)}, c.{q(EFFECTIVE_TO)} IS NULL AS {q(IS_CURRENT)},
                   c.{q(RECORD_VERSION)}, c.{q(ROW_HASH)},
                   CASE WHEN c._kind = 'U' THEN 'insert'
                        WHEN c._kind = 'C' AND c._was_current AND c.{q(EFFECTIVE_TO)} IS NOT NULL THEN 'close'
                        WHEN c._kind = 'C' AND c._was_current AND r._latest_seq > c._seq THEN 'refresh'
                   END AS {q(CHANGE)}
            FROM chained AS c JOIN run_data AS r USING ({k}, _run) JOIN events AS w ON w._id = r._latest_id
        )
        SELECT {qlist([*spec.columns, EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT, RECORD_VERSION, ROW_HASH, CHANGE])}
        FROM changes WHERE {q(CHANGE)} IS NOT NULL
        UNION ALL
        SELECT {qlist(spec.columns)}, _seq, CAST(NULL AS TIMESTAMPTZ), TRUE, CAST(1 AS INTEGER), {q(ROW_HASH)},
               'insert'
        FROM single"""
