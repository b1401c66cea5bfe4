"""Rule types -> Spark Column checks, through an explicit registry.

A check returns ``(passes, message)``: ``passes`` is a boolean Column that is true when the row satisfies the
rule, ``message`` a string Column saying what was wrong (read only where the row fails). Rules other than
not_null let nulls pass, so each concern is reported by exactly one rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyspark.sql import Column, Window
from pyspark.sql import functions as F

from paylake.config.quality import (
    AllowedValuesRule,
    DateOrderRule,
    ExpressionRule,
    ForeignKeyRule,
    NotNullRule,
    RangeRule,
    RegexRule,
    UniqueRule,
)
from paylake.contract import SOURCE_FILE, SOURCE_ROW

Check = tuple[Column, Column]


def fk_column(rule: ForeignKeyRule) -> str:
    """Name of the helper column in which the gate records a foreign key's lookup result."""
    return f"_fk_{rule.rule_name}"


def _shown(column: str) -> Column:
    return F.coalesce(F.col(column).cast("string"), F.lit("null"))


def not_null(rule: NotNullRule) -> Check:
    return F.col(rule.column).isNotNull(), F.lit(f"{rule.column} is null")


def unique(rule: UniqueRule) -> Check:
    keys = [F.col(c) for c in rule.columns]
    first = F.row_number().over(Window.partitionBy(F.col(SOURCE_FILE), *keys).orderBy(SOURCE_ROW)) == 1
    any_null = F.greatest(*[k.isNull() for k in keys]) if len(keys) > 1 else keys[0].isNull()
    shown = F.concat_ws(", ", *[F.concat(F.lit(f"{c}="), _shown(c)) for c in rule.columns])
    return any_null | first, F.concat(F.lit("duplicate key ("), shown, F.lit(") in the same file"))


def in_range(rule: RangeRule) -> Check:
    value = F.col(rule.column)
    ok = F.lit(True)
    if rule.min is not None:
        ok = ok & (value >= F.lit(rule.min))
    if rule.max is not None:
        ok = ok & (value <= F.lit(rule.max))
    bounds = f"[{'' if rule.min is None else rule.min}, {'' if rule.max is None else rule.max}]"
    return F.coalesce(ok, F.lit(True)), F.concat(
        F.lit(f"{rule.column}="), _shown(rule.column), F.lit(f" outside {bounds}")
    )


def allowed_values(rule: AllowedValuesRule) -> Check:
    ok = F.col(rule.column).isin(list(rule.values))
    allowed = ", ".join(str(v) for v in rule.values)
    message = F.concat(F.lit(f"{rule.column}="), _shown(rule.column), F.lit(f" not in ({allowed})"))
    return F.coalesce(ok, F.lit(True)), message


def regex(rule: RegexRule) -> Check:
    ok = F.col(rule.column).cast("string").rlike(f"^(?:{rule.pattern})$")
    message = F.concat(F.lit(f"{rule.column}="), _shown(rule.column), F.lit(f" does not match {rule.pattern}"))
    return F.coalesce(ok, F.lit(True)), message


def date_order(rule: DateOrderRule) -> Check:
    early, late = F.col(rule.column), F.col(rule.later_column)
    ok = early <= late if rule.allow_equal else early < late
    message = F.concat(
        F.lit(f"{rule.column}="),
        _shown(rule.column),
        F.lit(f" is after {rule.later_column}="),
        _shown(rule.later_column),
    )
    return F.coalesce(ok, F.lit(True)), message


def foreign_key(rule: ForeignKeyRule) -> Check:
    ok = F.col(rule.column).isNull() | F.col(fk_column(rule))
    message = F.concat(
        F.lit(f"{rule.column}="),
        _shown(rule.column),
        F.lit(f" not found in {rule.references.table}.{rule.references.column}"),
    )
    return ok, message


def expression(rule: ExpressionRule) -> Check:
    return F.coalesce(F.expr(rule.expression), F.lit(True)), F.lit(f"expression is false: {rule.expression}")


CHECKS: dict[str, Callable[[Any], Check]] = {
    "not_null": not_null,
    "unique": unique,
    "range": in_range,
    "allowed_values": allowed_values,
    "regex": regex,
    "date_order": date_order,
    "foreign_key": foreign_key,
    "expression": expression,
}
