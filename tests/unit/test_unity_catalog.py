"""Unity Catalog DDL: schemas, tables, masks on PII columns (bronze, quarantine and silver), grants."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from paylake.cli import main
from paylake.config.loader import LocalMetadataSource, load_bronze, load_derived, load_environment
from paylake.lake.unity_catalog import lake_schemas, uc_statements


@pytest.fixture(scope="module")
def statements(spark: SparkSession, repo: Path) -> list[str]:
    source = LocalMetadataSource(repo / "metadata")
    settings = load_environment(source, "prod").databricks
    assert settings is not None
    bronze = load_bronze(source)
    schemas, partitions = lake_schemas(spark, bronze, [load_derived(source, "silver"), load_derived(source, "gold")])
    return uc_statements(settings, bronze, schemas, partitions)


def test_schemas_come_first_and_every_table_is_created_as_delta(statements: list[str]) -> None:
    assert statements[:4] == [
        f"CREATE SCHEMA IF NOT EXISTS `paylake_prod`.`{layer}`" for layer in ("bronze", "silver", "gold", "ops")
    ]
    created = re.findall(r"CREATE TABLE IF NOT EXISTS `paylake_prod`\.`(\w+)`\.`(\w+)`", "\n".join(statements))
    assert sorted(created) == sorted(
        [("bronze", t) for t in ("accounts", "skus", "invoices", "invoice_line_items")]
        + [("bronze", f"{t}_quarantine") for t in ("accounts", "skus", "invoices", "invoice_line_items")]
        + [("silver", t) for t in ("account_payment_history", "account_profiles", "invoice_details", "product_catalog")]
        + [("gold", t) for t in ("customer_payment_metrics", "payment_health_dashboard", "payment_trends_monthly")]
    )
    accounts = next(s for s in statements if "`bronze`.`accounts` (" in s)
    assert "`credit_limit` DECIMAL(18,2) COMMENT 'In USD'" in accounts and accounts.endswith("USING DELTA")
    assert "`effective_to` TIMESTAMP" in accounts and "`record_version` INT" in accounts
    details = next(s for s in statements if "`silver`.`invoice_details` (" in s)
    assert details.endswith("PARTITIONED BY (`invoice_month`)") and "`days_late` INT" in details
    scores = next(s for s in statements if "`gold`.`customer_payment_metrics` (" in s)
    assert scores.endswith("PARTITIONED BY (`score_date`)") and "`risk_points` MAP<STRING,INT>" in scores
    assert "`risk_reasons` ARRAY<STRING>" in scores and "`late_ratio_90d` DOUBLE" in scores


def test_pii_columns_are_masked_wherever_they_land_and_analysts_get_read_grants(statements: list[str]) -> None:
    function = "`paylake_prod`.`ops`.`paylake_mask_string`"
    (create,) = [s for s in statements if s.startswith("CREATE OR REPLACE FUNCTION")]
    assert create.startswith(f"CREATE OR REPLACE FUNCTION {function}(value STRING) RETURNS STRING")
    assert "is_account_group_member('paylake-pii-readers') THEN value ELSE '****'" in create
    masks = [s for s in statements if "SET MASK" in s]
    assert masks == [
        f"ALTER TABLE `paylake_prod`.`{layer}`.`{table}` ALTER COLUMN `account_name` SET MASK {function}"
        for layer, table in [
            ("bronze", "accounts"),
            ("bronze", "accounts_quarantine"),
            ("silver", "account_profiles"),
            ("gold", "customer_payment_metrics"),
        ]
    ]
    assert statements.index(create) < statements.index(masks[0])
    grants = [s for s in statements if s.startswith("GRANT")]
    assert grants == [
        "GRANT USE CATALOG ON CATALOG `paylake_prod` TO `paylake-analysts`",
        *[
            f"GRANT USE SCHEMA, SELECT ON SCHEMA `paylake_prod`.`{x}` TO `paylake-analysts`"
            for x in ("bronze", "silver", "gold")
        ],
    ]


def test_uc_sql_needs_a_databricks_section(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    metadata = tmp_path / "metadata"
    (metadata / "environments").mkdir(parents=True)
    (metadata / "environments" / "bare.yaml").write_text("name: bare\nlanding_root: landing\nlake_root: lake\n")
    assert main(["uc-sql", "--env", "bare", "--metadata", str(metadata)]) == 2
    assert "environment 'bare' has no databricks: section" in capsys.readouterr().err
