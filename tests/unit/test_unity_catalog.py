"""Unity Catalog set-up: catalog, schemas, tables, analyst views masking PII, grants for the job and for people."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from paylake.cli import main
from paylake.config.environment import DatabricksConfig
from paylake.config.loader import BronzeMetadata, LocalMetadataSource, load_bronze, load_derived, load_environment
from paylake.deploy.unity_catalog import Statement, analyst_view_query, lake_schemas, uc_statements

PRINCIPAL = "0f3c1c4e-5b1a-4f53-9a57-3a1d2d9f6a11"
# Unity Catalog privileges (Databricks docs, "Unity Catalog privileges and securable objects") and the securables
# the set-up grants on: a GRANT outside these is a typo Unity Catalog would refuse.
PRIVILEGES = {"USE CATALOG", "USE SCHEMA", "CREATE SCHEMA", "CREATE TABLE", "SELECT", "MODIFY", "READ FILES"}
GRANT = re.compile(
    r"GRANT (?P<privileges>[A-Z ,]+) ON (?P<kind>CATALOG|SCHEMA|EXTERNAL LOCATION) (?P<name>[`\w.-]+) "
    r"TO `(?P<to>[\w.@-]+)`"
)


@pytest.fixture(scope="module")
def settings(repo: Path) -> DatabricksConfig:
    found = load_environment(LocalMetadataSource(repo / "metadata"), "prod").databricks
    assert found is not None
    return found.model_copy(update={"landing_external_location": "paylake_prod_landing"})


@pytest.fixture(scope="module")
def statements(spark: SparkSession, repo: Path, settings: DatabricksConfig) -> list[Statement]:
    source = LocalMetadataSource(repo / "metadata")
    bronze = load_bronze(source)
    schemas, partitions = lake_schemas(spark, bronze, [load_derived(source, "silver"), load_derived(source, "gold")])
    return uc_statements(settings, bronze, schemas, partitions, PRINCIPAL)


def test_catalog_and_schemas_come_first_and_every_table_is_created_as_delta(statements: list[Statement]) -> None:
    sql = [s.sql for s in statements]
    assert sql[0] == "CREATE CATALOG IF NOT EXISTS `paylake_prod`" and statements[0].unity_catalog_only
    assert sql[1:6] == [
        f"CREATE SCHEMA IF NOT EXISTS `paylake_prod`.`{schema}`"
        for schema in ("bronze", "silver", "gold", "ops", "analytics")
    ]
    created = re.findall(r"CREATE TABLE IF NOT EXISTS `paylake_prod`\.`(\w+)`\.`(\w+)`", "\n".join(sql))
    expected = (
        [("bronze", t) for t in ("accounts", "skus", "invoices", "invoice_line_items")]
        + [("bronze", f"{t}_quarantine") for t in ("accounts", "skus", "invoices", "invoice_line_items")]
        + [("silver", t) for t in ("account_payment_history", "account_profiles", "invoice_details", "product_catalog")]
        + [
            ("gold", t)
            for t in (
                "collections_worklist",
                "customer_payment_metrics",
                "payment_health_dashboard",
                "payment_trends_monthly",
            )
        ]
    )
    assert sorted(created) == sorted(expected)
    accounts = next(s for s in sql if "`bronze`.`accounts` (" in s)
    assert "`credit_limit` decimal(18,2) COMMENT 'In USD'" in accounts and accounts.endswith("USING DELTA")
    assert "`effective_to` timestamp" in accounts and "`record_version` int" in accounts
    details = next(s for s in sql if "`silver`.`invoice_details` (" in s)
    assert details.endswith("PARTITIONED BY (`invoice_month`)") and "`days_late` int" in details
    scores = next(s for s in sql if "`gold`.`customer_payment_metrics` (" in s)
    assert scores.endswith("PARTITIONED BY (`score_date`)") and "`risk_points` map<string,int>" in scores
    # Nested field names stay as the pipeline writes them (lower case).
    dashboard = next(s for s in sql if "`gold`.`payment_health_dashboard` (" in s)
    assert "array<struct<account_id:string," in dashboard and "ACCOUNT_ID" not in dashboard
    views = re.findall(r"CREATE OR REPLACE VIEW `paylake_prod`\.`analytics`\.`(\w+)` AS", "\n".join(sql))
    assert sorted(views) == sorted(table for _, table in expected)
    for create in (s for s in sql if s.startswith("CREATE TABLE")):  # a column given twice fails the statement
        columns = re.findall(r"^  `(\w+)` ", create, re.M)
        assert len(columns) == len(set(columns)), create.splitlines()[0]
    derived = [s for s in sql if s.startswith("CREATE TABLE") and (".`silver`." in s or ".`gold`." in s)]
    assert derived and all("`stale_inputs` string" in s for s in derived)


def test_no_table_the_job_writes_is_masked_and_the_analyst_views_mask_pii(statements: list[Statement]) -> None:
    sql = "\n".join(s.sql for s in statements)
    assert "SET MASK" not in sql and "ROW FILTER" not in sql  # the job reads its tables unmasked, whoever runs it
    member = "is_account_group_member('paylake-pii-readers')"
    for table, layer in [
        ("accounts", "bronze"),
        ("accounts_quarantine", "bronze"),
        ("account_profiles", "silver"),
        ("customer_payment_metrics", "gold"),
    ]:
        view = next(
            s.sql
            for s in statements
            if s.sql.startswith(f"CREATE OR REPLACE VIEW `paylake_prod`.`analytics`.`{table}`")
        )
        assert f"CASE WHEN {member} THEN `account_name` ELSE '****' END AS `account_name`" in view
        assert view.endswith(f"FROM `paylake_prod`.`{layer}`.`{table}`")
    unmasked = [s.sql for s in statements if " VIEW " in s.sql and member not in s.sql]
    assert unmasked and all("account_name" not in s for s in unmasked)


def test_grants_give_the_job_principal_what_the_pipeline_needs_and_people_only_the_views(
    statements: list[Statement],
) -> None:
    grants = [s for s in statements if s.sql.startswith("GRANT")]
    assert all(s.unity_catalog_only for s in grants)
    parsed = [GRANT.fullmatch(s.sql) for s in grants]
    assert all(parsed), [s.sql for s, m in zip(grants, parsed, strict=True) if not m]
    by_principal: dict[str, set[tuple[str, str, str]]] = {}
    for m in parsed:
        assert m is not None
        privileges = {p.strip() for p in m["privileges"].split(",")}
        assert privileges <= PRIVILEGES, privileges - PRIVILEGES
        for privilege in privileges:
            by_principal.setdefault(m["to"], set()).add((privilege, m["kind"], m["name"]))
    job = by_principal[PRINCIPAL]
    assert {("USE CATALOG", "CATALOG", "`paylake_prod`"), ("CREATE SCHEMA", "CATALOG", "`paylake_prod`")} <= job
    for schema in ("bronze", "silver", "gold", "ops", "analytics"):
        for privilege in ("USE SCHEMA", "CREATE TABLE", "SELECT", "MODIFY"):
            assert (privilege, "SCHEMA", f"`paylake_prod`.`{schema}`") in job
    assert ("READ FILES", "EXTERNAL LOCATION", "`paylake_prod_landing`") in job
    for group in ("paylake-analysts", "paylake-pii-readers"):
        assert by_principal[group] == {
            ("USE CATALOG", "CATALOG", "`paylake_prod`"),
            ("USE SCHEMA", "SCHEMA", "`paylake_prod`.`analytics`"),
            ("SELECT", "SCHEMA", "`paylake_prod`.`analytics`"),
        }


def test_the_analyst_view_masks_for_non_members_and_shows_members(spark: SparkSession) -> None:
    schema = [("account_id", "string"), ("account_name", "string"), ("credit_limit", "decimal(18,2)")]
    spark.createDataFrame(
        [("A1", "Acme", 10)], "account_id string, account_name string, credit_limit int"
    ).createOrReplaceTempView("uc_accounts")
    query = analyst_view_query("uc_accounts", schema, {"account_name", "credit_limit"}, "pii")
    try:
        for member, expected in [(False, ("A1", "****", None)), (True, ("A1", "Acme", 10))]:
            spark.udf.register("is_account_group_member", lambda group, m=member: m and group == "pii", "boolean")
            row = spark.sql(query).first()
            assert row is not None and (row[0], row[1], None if row[2] is None else int(row[2])) == expected
    finally:  # the shared session's set-up (tests/e2e/test_notebooks.py) makes a persistent one of that name
        spark.sql("DROP TEMPORARY FUNCTION IF EXISTS is_account_group_member")


def test_a_views_columns_follow_the_table_as_it_is_now(spark: SparkSession, repo: Path) -> None:
    """A column added to the YAML reaches the table with its next load, after the set-up: the view must not
    select it before then, or the set-up would fail the run."""
    source = LocalMetadataSource(repo / "metadata")
    settings = load_environment(source, "prod").databricks
    assert settings is not None
    bronze = load_bronze(source)
    before = [("account_id", "string"), ("segment", "string")]
    found = {
        s.sql.split(" (")[0].split(" AS\n")[0]: s.sql
        for s in uc_statements(settings, bronze, {}, {}, None, {"bronze.accounts": before})
    }
    view = found["CREATE OR REPLACE VIEW `paylake_prod`.`analytics`.`accounts`"]
    assert view.split(" AS\n", 1)[1] == "SELECT\n  `account_id`,\n  `segment`\nFROM `paylake_prod`.`bronze`.`accounts`"
    table = found["CREATE TABLE IF NOT EXISTS `paylake_prod`.`bronze`.`accounts`"]
    assert "`account_name` string" in table  # a new table still gets every column


def test_two_layers_with_a_table_of_one_name_are_refused(settings: DatabricksConfig) -> None:
    bronze = BronzeMetadata(tables={})  # type: ignore[call-arg]
    derived = {"silver.scores": [("a", "int")], "gold.scores": [("a", "int")]}
    with pytest.raises(ValueError, match="silver.scores and gold.scores would share the analyst view analytics.scores"):
        uc_statements(settings, bronze, derived, {})


def test_a_databricks_environment_refuses_lake_root_and_local_commands(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metadata = tmp_path / "metadata"
    (metadata / "environments").mkdir(parents=True)
    text = (repo / "metadata" / "environments" / "prod.yaml").read_text()
    (metadata / "environments" / "prod.yaml").write_text(text + "lake_root: s3://x\n")
    assert main(["validate", str(metadata)]) == 2
    assert "lake_root: engine databricks keeps its tables in Unity Catalog" in capsys.readouterr().out
    assert main(["history", "bronze.accounts", "--env", "prod", "--metadata", str(repo / "metadata")]) == 2
    err = capsys.readouterr().err
    assert "environment 'prod' runs on Databricks (engine databricks)" in err and "notebooks/table_versions.py" in err


def test_uc_sql_needs_a_databricks_section(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    metadata = tmp_path / "metadata"
    (metadata / "environments").mkdir(parents=True)
    (metadata / "environments" / "bare.yaml").write_text("name: bare\nlanding_root: landing\nlake_root: lake\n")
    assert main(["uc-sql", "--env", "bare", "--metadata", str(metadata)]) == 2
    assert "environment 'bare' has no databricks: section" in capsys.readouterr().err
