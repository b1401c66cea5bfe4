"""Rule checks on tiny DataFrames: what passes, what is rejected or flagged, and the counts."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pydantic import TypeAdapter
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from paylake.config.quality import RULE_TYPES, Rule
from paylake.frames import rows_frame
from paylake.quality.checks import apply_checks, checks_for, failure_counts, failure_rows, with_fk_lookups
from paylake.quality.rules import CHECKS

RULE = TypeAdapter(Rule)
SCHEMA = (
    "id string, amount double, currency string, issued date, due date, "
    "_source_file string, _source_row int, _extract_date date"
)


def rows(spark: SparkSession, *data: tuple[object, ...]) -> DataFrame:
    d = date.fromisoformat
    return rows_frame(
        spark,
        [(i, a, c, d(x) if x else None, d(y) if y else None, f, r, d("2026-01-05")) for i, a, c, x, y, f, r in data],
        SCHEMA,
    )


def failing_ids(df: DataFrame, rule: dict[str, object], references: dict[str, DataFrame] | None = None) -> list[str]:
    parsed = RULE.validate_python(rule)
    checked = apply_checks(with_fk_lookups(df, [parsed], references or {}, "_extract_date"), checks_for([parsed]))
    column = "_dq_rejects" if parsed.action == "reject" else "_dq_flags"
    return sorted(r.id for r in checked.where(f"size({column}) > 0").collect())


@pytest.fixture
def sample(spark: SparkSession) -> DataFrame:
    return rows(
        spark,
        ("a", 10.0, "USD", "2026-01-01", "2026-01-31", "f1", 1),
        ("b", -5.0, "usd", "2026-01-10", "2026-01-01", "f1", 2),
        ("c", None, None, None, None, "f1", 3),
        ("a", 99.0, "EUR", "2026-01-02", "2026-01-02", "f1", 4),
        ("a", 1.0, "USD", "2026-01-02", "2026-01-03", "f2", 1),
    )


@pytest.mark.parametrize(
    ("rule", "failing"),
    [
        ({"type": "not_null", "column": "amount"}, ["c"]),
        ({"type": "range", "column": "amount", "min": 0}, ["b"]),
        ({"type": "range", "column": "amount", "min": 0, "max": 50}, ["a", "b"]),
        ({"type": "allowed_values", "column": "currency", "values": ["USD", "EUR"]}, ["b"]),
        ({"type": "regex", "column": "currency", "pattern": "[A-Z]{3}"}, ["b"]),
        ({"type": "date_order", "column": "issued", "later_column": "due"}, ["b"]),
        ({"type": "date_order", "column": "issued", "later_column": "due", "allow_equal": False}, ["a", "b"]),
        ({"type": "unique", "columns": ["id"]}, ["a"]),
        ({"type": "expression", "name": "small", "expression": "amount < 50", "columns": ["amount"]}, ["a"]),
    ],
)
def test_each_rule_type(sample: DataFrame, rule: dict[str, object], failing: list[str]) -> None:
    assert failing_ids(sample, rule) == failing


def test_unique_keeps_the_first_row_of_each_file(sample: DataFrame) -> None:
    rule = RULE.validate_python({"type": "unique", "columns": ["id"]})
    checked = apply_checks(sample, checks_for([rule]))
    rejected = [(r._source_file, r._source_row) for r in checked.where("size(_dq_rejects) > 0").collect()]
    assert rejected == [("f1", 4)]


def test_foreign_key_checks_the_key_on_the_rows_extract_date(spark: SparkSession, sample: DataFrame) -> None:
    ts = datetime.fromisoformat
    versions = rows_frame(
        spark,
        [
            ("USD", ts("2025-01-01 00:00:00"), None),  # live
            ("EUR", ts("2025-01-01 00:00:00"), ts("2026-01-05 00:00:00")),  # deleted on the extract date
            ("usd", ts("2026-01-06 09:00:00"), None),  # created after the extract date
        ],
        "key string, effective_from timestamp, effective_to timestamp",
    )
    rule = {"type": "foreign_key", "column": "currency", "references": {"table": "fx", "column": "code"}}
    assert failing_ids(sample, rule, {"fk_currency_fx": versions}) == ["a", "b"]


def test_gate_columns_counts_and_pass_rates(spark: SparkSession, sample: DataFrame) -> None:
    rules = [
        RULE.validate_python({"type": "range", "column": "amount", "min": 0}),
        RULE.validate_python({"type": "not_null", "column": "currency", "action": "flag"}),
        RULE.validate_python({"type": "allowed_values", "column": "currency", "values": ["USD", "EUR"]}),
    ]
    checks = checks_for(rules)
    checked = apply_checks(sample, checks)
    b = checked.where("id = 'b'").first()
    assert b is not None
    assert b._dq_rejects == ["range_amount", "allowed_values_currency"]
    assert b._dq_reasons == [
        "range_amount: amount=-5.0 outside [0.0, ]",
        "allowed_values_currency: currency=usd not in (USD, EUR)",
    ]
    assert checked.where("id = 'c'").first()._dq_flags == ["not_null_currency"]  # type: ignore[union-attr]
    totals = checked.agg(F.count(F.lit(1)).alias("rows"), *failure_counts(checks)).collect()
    failures = {r.rule: (r.action, r.rows_checked, r.rows_failed) for r in failure_rows(checks, totals)}
    assert failures == {
        "range_amount": ("reject", 5, 1),
        "not_null_currency": ("flag", 5, 1),
        "allowed_values_currency": ("reject", 5, 1),
    }


def test_every_rule_type_has_a_check_and_every_check_a_rule_type() -> None:
    assert set(CHECKS) == RULE_TYPES and "foreign_key" in RULE_TYPES
