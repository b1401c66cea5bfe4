"""Metadata loading and validation: every problem reported as file: key.path: reason, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from paylake.cli import main
from paylake.config.loader import (
    LocalMetadataSource,
    load_bronze,
    load_derived,
    load_environment,
    validate_metadata,
)
from paylake.errors import InvalidConfigError
from paylake.silver.invoice_details import InvoiceDetailsParams


@pytest.fixture
def metadata(tmp_path: Path, repo: Path) -> Path:
    target = tmp_path / "metadata"
    shutil.copytree(repo / "metadata", target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def issues(root: Path) -> list[str]:
    return [str(i) for i in validate_metadata(LocalMetadataSource(root))]


def test_bundled_metadata_is_valid(metadata: Path) -> None:
    assert issues(metadata) == []
    tables = load_bronze(LocalMetadataSource(metadata)).tables
    assert sorted(tables) == ["accounts", "invoice_line_items", "invoices", "skus"]
    assert tables["invoices"].dependencies() == {"accounts"}
    assert tables["invoice_line_items"].dependencies() == {"invoices", "skus"}
    assert load_environment(LocalMetadataSource(metadata), "local").engine == "local"


def test_unknown_key_is_reported_with_its_path(metadata: Path) -> None:
    edit(metadata / "bronze/skus/skus.yaml", "  min_pass_rate: 0.95", "  min_pass_rate: 0.95\n  min_pass_rat: 0.5")
    assert issues(metadata) == [f"{metadata}/bronze/skus/skus.yaml: quality.min_pass_rat: unknown key"]


def test_every_problem_is_collected_not_just_the_first(metadata: Path) -> None:
    path = metadata / "bronze/invoices/invoices.yaml"
    edit(path, "load_type: incremental", "load_type: sometimes")
    edit(path, "{type: range, column: invoice_amount, min: 0,", "{type: range, column: invoice_amount, min: zero,")
    found = issues(metadata)
    assert f"{path}: load_type: Input should be 'snapshot' or 'incremental'" in found
    assert any(i.startswith(f"{path}: quality.rules[1].min: ") for i in found), found


def test_rule_on_unknown_column_names_the_rule_and_columns(metadata: Path) -> None:
    path = metadata / "bronze/skus/skus.yaml"
    edit(path, "{type: range, column: unit_price,", "{type: range, column: unit_prize,")
    (issue,) = issues(metadata)
    assert issue.startswith(f"{path}: quality.rules[1].column: unknown column 'unit_prize'; declared columns: sku_id")


@pytest.mark.parametrize(
    "value",
    ["../../etc/passwd", "accounts; DROP TABLE x", "Accounts", "acc-ounts", "_hidden", "a" * 64],
)
def test_identifiers_cannot_become_paths_or_sql(metadata: Path, value: str) -> None:
    path = metadata / "bronze/skus/skus.yaml"
    edit(path, "- {name: sku_name, type: string}", f"- {{name: {value!r}, type: string}}")
    found = issues(metadata)
    assert any(i.startswith(f"{path}: columns[1].name: ") and "not a valid identifier" in i for i in found), found


def test_source_path_cannot_traverse(metadata: Path) -> None:
    path = metadata / "bronze/skus/skus.yaml"
    edit(path, "load_type: snapshot", "load_type: snapshot\nsource: {path: ../secrets}")
    (issue,) = issues(metadata)
    assert issue.startswith(f"{path}: source.path: '../secrets' is not a safe relative path")


def test_expression_rules_are_single_expressions(metadata: Path) -> None:
    path = metadata / "bronze/invoices/invoices.yaml"
    edit(
        path,
        "expression: \"status <> 'PAID' OR paid_date IS NOT NULL\"",
        'expression: "true; DROP TABLE bronze.invoices"',
    )
    (issue,) = issues(metadata)
    assert issue.startswith(f"{path}: quality.rules[7].expression: expression must be a single boolean expression")


def test_foreign_key_to_unknown_table_and_dependency_cycle(metadata: Path) -> None:
    edit(metadata / "bronze/invoices/invoices.yaml", "references: {table: accounts,", "references: {table: customers,")
    edit(
        metadata / "bronze/skus/skus.yaml",
        "load_type: snapshot",
        "load_type: snapshot\ndepends_on: [invoice_line_items]",
    )
    found = issues(metadata)
    assert (
        f"{metadata}/bronze/invoices/invoices.yaml: quality.rules[6].references.table: unknown bronze table 'customers'"
        in found
    )
    assert any("dependency cycle: invoice_line_items -> skus -> invoice_line_items" in i for i in found), found


def test_partition_columns_must_be_tracked(metadata: Path) -> None:
    path = metadata / "bronze/accounts/accounts.yaml"
    edit(path, "load_type: snapshot", "load_type: snapshot\npartition_by: [account_name]")
    assert issues(metadata) == [
        f"{path}: partition_by[0]: 'account_name' must be in scd.compare_columns or primary_key"
    ]


def test_cluster_columns_must_be_known_and_not_partition_columns(metadata: Path) -> None:
    bronze = metadata / "bronze/accounts/accounts.yaml"
    edit(bronze, "load_type: snapshot", "load_type: snapshot\ncluster_by: [account_name, postcode]")
    gold = metadata / "gold/customer_payment_metrics/customer_payment_metrics.yaml"
    edit(gold, "partition_by: [score_date]", "partition_by: [score_date]\ncluster_by: [score_date]")
    found = issues(metadata)
    assert found[0].startswith(f"{bronze}: cluster_by[1]: unknown column 'postcode'; declared columns: account_id, ")
    assert found[1] == f"{gold}: cluster_by[0]: 'score_date' is a partition column; files never mix its values"
    assert len(found) == 2


def test_invalid_yaml_syntax_names_the_line(metadata: Path) -> None:
    path = metadata / "bronze/skus/skus.yaml"
    path.write_text(path.read_text().replace("primary_key: [sku_id]", "primary_key: [sku_id"))
    (issue,) = issues(metadata)
    assert issue.startswith(f"{path}: line ") and "invalid YAML" in issue


def test_table_name_must_match_its_path(metadata: Path) -> None:
    path = metadata / "bronze/skus/skus.yaml"
    edit(path, "table: skus", "table: products")
    assert f"{path}: table: must match its path bronze/products/products.yaml" in issues(metadata)


def test_unknown_environment_lists_the_available_ones(metadata: Path) -> None:
    with pytest.raises(InvalidConfigError, match=r"no such environment; available: dev, local, local-spark, prod"):
        load_environment(LocalMetadataSource(metadata), "staging")


def test_the_lake_is_the_override_else_the_environments_and_none_on_databricks(metadata: Path) -> None:
    source = LocalMetadataSource(metadata)
    local = load_environment(source, "local")
    assert local.lake_root and local.lake() == local.lake_root and local.lake(Path("/x")) == "/x"
    assert load_environment(source, "prod").lake() == ""  # Unity Catalog names the tables


def test_validate_command_exit_codes(metadata: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(metadata)]) == 0
    edit(metadata / "bronze/skus/skus.yaml", "sequence_column: updated_at", "sequence_column: sku_name")
    assert main(["validate", str(metadata)]) == 2
    out = capsys.readouterr().out
    assert "bronze/skus/skus.yaml: sequence_column: 'sku_name' must be a timestamp or date column" in out


# Silver metadata: builders, inputs and parameters are resolved at load.


def test_bundled_silver_metadata_resolves_builders_inputs_and_parameters(metadata: Path) -> None:
    silver = load_derived(LocalMetadataSource(metadata), "silver")
    assert sorted(silver.tables) == [
        "account_payment_history",
        "account_profiles",
        "invoice_details",
        "product_catalog",
    ]
    details = silver.tables["invoice_details"]
    assert details.builder.inputs == ("invoices", "line_items", "accounts", "products")
    assert isinstance(details.params, InvoiceDetailsParams)
    assert [b.label for b in details.params.aging_buckets] == ["current", "1-30", "31-60", "61-90", "90+"]
    assert details.dependencies("silver") == {"product_catalog"}
    assert silver.tables["account_payment_history"].dependencies("silver") == {"invoice_details", "account_profiles"}


def test_unknown_builder_lists_the_available_ones(metadata: Path) -> None:
    path = metadata / "silver/product_catalog/product_catalog.yaml"
    edit(path, "builder: product_catalog", "builder: product_catalogue")
    assert issues(metadata) == [
        f"{path}: builder: unknown silver builder 'product_catalogue'; available: account_payment_history, "
        "account_profiles, invoice_details, product_catalog"
    ]


def test_inputs_must_match_the_builder_arguments(metadata: Path) -> None:
    path = metadata / "silver/invoice_details/invoice_details.yaml"
    edit(path, "  products: silver.product_catalog\n", "  catalog: silver.product_catalog\n")
    assert issues(metadata) == [
        f"{path}: inputs: builder invoice_details takes ['invoices', 'line_items', 'accounts', 'products']: "
        "missing ['products']; not taken by the builder ['catalog']"
    ]


def test_parameters_are_validated_by_the_builder_model_with_their_key_path(metadata: Path) -> None:
    path = metadata / "silver/invoice_details/invoice_details.yaml"
    edit(path, "amount_tolerance: 0.05", "amount_tolerance: -1")
    edit(path, '{label: "31-60", max_days_past_due: 60}', '{label: "31-60", max_days_past_due: 20}')
    edit(path, "SGD: 0.746}", "SGD: 0.746, JPY: 0}")
    history = metadata / "silver/account_payment_history/account_payment_history.yaml"
    edit(history, "trend_window_days: 90 ", "trend_windw_days: 90 ")
    assert issues(metadata) == [
        f"{history}: parameters.trend_windw_days: unknown key",
        f"{path}: parameters.aging_buckets: max_days_past_due must strictly increase",
        f"{path}: parameters.amount_tolerance: Input should be greater than or equal to 0",
        f"{path}: parameters.fx_rates_to_usd: rates must be positive: JPY",
    ]


def test_inputs_must_name_known_tables_of_this_or_an_earlier_layer(metadata: Path) -> None:
    path = metadata / "silver/invoice_details/invoice_details.yaml"
    edit(path, "invoices: bronze.invoices", "invoices: bronze.invoice")
    edit(path, "accounts: bronze.accounts", "accounts: gold.customer_payment_metrics")
    assert issues(metadata) == [
        f"{path}: inputs.accounts: a silver table cannot read gold.customer_payment_metrics",
        f"{path}: inputs.invoices: unknown table bronze.invoice; bronze tables: accounts, invoice_line_items, "
        "invoices, skus",
    ]
    edit(path, "line_items: bronze.invoice_line_items", "line_items: ../bronze/invoice_line_items")
    assert issues(metadata) == [
        f"{path}: inputs.line_items: '../bronze/invoice_line_items' is not a table name; use <layer>.<table> with "
        "layer bronze, silver, gold or ops",
    ]


def test_dependency_cycles_between_silver_tables_are_reported(metadata: Path) -> None:
    path = metadata / "silver/product_catalog/product_catalog.yaml"
    edit(path, "builder: product_catalog", "builder: product_catalog\ndepends: x")
    edit(path, "skus: bronze.skus", "skus: silver.invoice_details")
    found = issues(metadata)
    assert f"{path}: depends: unknown key" in found
    edit(path, "builder: product_catalog\ndepends: x", "builder: product_catalog")
    assert issues(metadata) == [
        f"{metadata}/silver/invoice_details/invoice_details.yaml: inputs: dependency cycle: "
        "invoice_details -> product_catalog -> invoice_details"
    ]


def test_rules_keys_and_names_are_checked_against_declared_columns(metadata: Path) -> None:
    path = metadata / "silver/account_profiles/account_profiles.yaml"
    edit(
        path,
        "primary_key: [account_id]",
        "primary_key: [account_id]\ncolumns:\n  - {name: account_id}\n  - {name: credit_limit}\n  - {name: as_of}",
    )
    edit(path, "{type: not_null, column: credit_limit, action: flag}", "{type: not_null, column: limit, action: flag}")
    edit(
        path,
        "{type: range, column: tenure_days, min: 0, action: flag, name: created_after_as_of}",
        "{type: foreign_key, column: account_id, references: {table: accounts, column: account_id}}",
    )
    assert issues(metadata) == [
        f"{path}: columns[2].name: 'as_of' is added by paylake to every derived table",
        f"{path}: quality.rules[0]: unknown column 'limit'; declared columns: account_id, credit_limit, as_of",
        f"{path}: quality.rules[1].type: foreign_key rules apply to bronze tables only",
    ]


def test_silver_table_name_must_match_its_path(metadata: Path) -> None:
    path = metadata / "silver/product_catalog/product_catalog.yaml"
    edit(path, "table: product_catalog", "table: products")
    assert issues(metadata) == [f"{path}: table: must match its path silver/products/products.yaml"]
