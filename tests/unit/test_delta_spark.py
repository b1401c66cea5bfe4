"""The Databricks adapter renders the shared MergeSpec as MERGE INTO SQL (no cluster needed)."""

from __future__ import annotations

from paylake.bronze.scd2 import Scd2Spec, scd2_merge_spec
from paylake.contract import TableRef
from paylake.lake.delta_spark import DeltaSparkStore, merge_sql
from paylake.lake.store import MergeSpec, filters_sql, sql_literal


def test_scd2_merge_renders_as_merge_into() -> None:
    spec = Scd2Spec(("invoice_id",), ("status",), "updated_at", ("invoice_id", "status", "updated_at"), False)
    sql = merge_sql("`paylake_dev`.`bronze`.`invoices`", "src", scd2_merge_spec(spec))
    assert sql == (
        "MERGE WITH SCHEMA EVOLUTION INTO `paylake_dev`.`bronze`.`invoices` AS t\n"
        "USING src AS s\n"
        "ON t.invoice_id = s.invoice_id AND t.record_version = s.record_version\n"
        "WHEN MATCHED AND (t.is_current = true) THEN UPDATE SET `status` = s.status, "
        "`updated_at` = s.updated_at, `effective_to` = s.effective_to, `is_current` = s.is_current\n"
        "WHEN NOT MATCHED THEN INSERT *"
    )


def test_merge_without_update_or_condition() -> None:
    assert merge_sql("x", "y", MergeSpec(predicate="t.k = s.k")) == (
        "MERGE WITH SCHEMA EVOLUTION INTO x AS t\nUSING y AS s\nON t.k = s.k\nWHEN NOT MATCHED THEN INSERT *"
    )


def test_unity_catalog_names_come_from_the_environment() -> None:
    store = DeltaSparkStore(spark=None, catalog="paylake_prod", schemas={"bronze": "raw", "ops": "ops"})  # type: ignore[arg-type]
    assert store.full_name(TableRef("bronze", "accounts")) == "`paylake_prod`.`raw`.`accounts`"


def test_sql_literals_are_escaped() -> None:
    assert sql_literal("it's") == "'it''s'"
    assert filters_sql([("is_current", "=", True), ("table", "=", "a'b")]) == "is_current = true AND table = 'a''b'"
