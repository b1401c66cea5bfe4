"""Data-quality checks: rules evaluated on a DataFrame, DataFrame in, DataFrame out.

``apply_checks`` adds three columns:
``_dq_rejects`` (names of failed ``reject`` rules), ``_dq_reasons`` (one readable reason per rejection) and
``_dq_flags`` (names of failed ``flag`` rules). A row is rejected when ``_dq_rejects`` is not empty.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

from paylake.config.quality import Action, ForeignKeyRule, Rule
from paylake.contract import FLAGS, REASONS, REJECTS, SOURCE_FILE, SOURCE_ROW
from paylake.quality.rules import CHECKS, fk_column


@dataclass(frozen=True)
class CheckSpec:
    """One evaluated rule: its identity and the Columns that decide and explain it."""

    name: str
    rule_type: str
    action: Action
    passes: Column
    message: Column


def checks_for(rules: Sequence[Rule]) -> list[CheckSpec]:
    """CheckSpecs for declared rules, looked up in the rule registry."""
    specs = []
    for rule in rules:
        passes, message = CHECKS[rule.type](rule)
        specs.append(CheckSpec(rule.rule_name, rule.type, rule.action, passes, message))
    return specs


def with_fk_lookups(
    df: DataFrame, rules: Sequence[Rule], references: Mapping[str, DataFrame], date_column: str
) -> DataFrame:
    """Add one boolean column per foreign-key rule: does the key exist on the row's ``date_column``?

    ``references[rule_name]`` holds the referenced table's versions as ``(key, effective_from, effective_to)``;
    a key exists on day D when a version starts before the end of D and is not closed by the start of D. Checking
    per day (not against today's rows) makes a backlog give the same answer as day-by-day loads.

    The rows are joined with one row per referenced key (its versions as a list), so a key never multiplies a
    row. Spark sizes that side from the referenced table's files: a dimension such as accounts is broadcast and
    the batch is not shuffled for the lookup.
    """
    day = F.col(date_column)
    start_of_day, end_of_day = day.cast("timestamp"), F.date_add(day, 1).cast("timestamp")

    def on_day(version: Column) -> Column:
        starts, ends = version["effective_from"], version["effective_to"]
        return (starts < end_of_day) & (ends.isNull() | (ends > start_of_day))

    for rule in rules:
        if not isinstance(rule, ForeignKeyRule):
            continue
        versions = (
            references[rule.rule_name]
            .groupBy(F.col("key").alias("_fk_ref"))
            .agg(F.collect_list(F.struct("effective_from", "effective_to")).alias("_fk_versions"))
        )
        joined = df.join(versions, F.col(rule.column) == F.col("_fk_ref"), "left")
        found = F.coalesce(F.exists("_fk_versions", on_day), F.lit(False))
        df = joined.withColumn(fk_column(rule), found).drop("_fk_ref", "_fk_versions")
    return df


def _failed(checks: Sequence[tuple[int, CheckSpec]], label: Callable[[CheckSpec], Column]) -> Column:
    """Array of ``label(check)`` for every check the row failed (``__pass_<i>`` is false)."""
    items = [F.when(~F.col(f"__pass_{i}"), label(check)) for i, check in checks]
    array = F.array(*items) if items else F.array().cast("array<string>")
    return F.filter(array, lambda x: x.isNotNull())


def apply_checks(df: DataFrame, checks: Sequence[CheckSpec]) -> DataFrame:
    """Evaluate ``checks`` and add ``_dq_rejects``, ``_dq_reasons`` and ``_dq_flags`` (see module doc)."""
    # Materialise each verdict once: checks may hold window functions, and each is read twice below.
    evaluated = df.select("*", *[c.passes.alias(f"__pass_{i}") for i, c in enumerate(checks)])
    rejects = [(i, c) for i, c in enumerate(checks) if c.action == "reject"]
    flags = [(i, c) for i, c in enumerate(checks) if c.action == "flag"]
    result = evaluated.select(
        "*",
        _failed(rejects, lambda c: F.lit(c.name)).alias(REJECTS),
        _failed(rejects, lambda c: F.concat(F.lit(f"{c.name}: "), c.message)).alias(REASONS),
        _failed(flags, lambda c: F.lit(c.name)).alias(FLAGS),
    )
    return result.drop(*[f"__pass_{i}" for i in range(len(checks))], *[c for c in df.columns if c.startswith("_fk_")])


def evaluate(rows: DataFrame, checks: Sequence[CheckSpec]) -> DataFrame:
    """:func:`apply_checks` on any rows. The rule engine names a row by file and row number; rows without them
    (a derived table's output) are one unnamed file while checked."""
    if SOURCE_FILE in rows.columns:
        return apply_checks(rows, checks)
    named = rows.withColumns({SOURCE_FILE: F.lit(None).cast("string"), SOURCE_ROW: F.lit(0)})
    return apply_checks(named, checks).drop(SOURCE_FILE, SOURCE_ROW)


def passing_rows(rows: DataFrame, checks: Sequence[CheckSpec]) -> DataFrame:
    """The rows that pass every reject rule of ``checks``, with their own columns only: what a gated write
    keeps, computed without writing (scoring and the backtest)."""
    return evaluate(rows, checks).where(~is_rejected()).select(*rows.columns)


def is_rejected() -> Column:
    """True for rows the gate rejected."""
    return F.size(F.col(REJECTS)) > 0


def failure_counts(checks: Sequence[CheckSpec]) -> list[Column]:
    """Aggregate columns ``c<i>``: how many rows failed check ``i``."""
    return [
        F.sum(F.array_contains(F.col(REJECTS if c.action == "reject" else FLAGS), c.name).cast("long")).alias(f"c{i}")
        for i, c in enumerate(checks)
    ]


def failure_rows(checks: Sequence[CheckSpec], totals: Sequence[Row]) -> list[Row]:
    """One row per check (``rule``, ``rule_type``, ``action``, ``rows_checked``, ``rows_failed``) from aggregate
    rows holding ``rows`` and the :func:`failure_counts` columns, summed over them (one per file in bronze)."""
    checked = sum(total["rows"] for total in totals)
    return [
        Row(
            rule=check.name,
            rule_type=check.rule_type,
            action=check.action,
            rows_checked=checked,
            rows_failed=sum(total[f"c{index}"] or 0 for total in totals),
        )
        for index, check in enumerate(checks)
    ]
