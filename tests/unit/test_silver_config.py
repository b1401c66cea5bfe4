"""Silver metadata: builders, inputs and parameters are resolved at load, every problem as file: key: reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from paylake.config.loader import LocalMetadataSource, load_derived, validate_metadata
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
        "layer bronze, silver or gold",
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


def test_table_name_must_match_its_path(metadata: Path) -> None:
    path = metadata / "silver/product_catalog/product_catalog.yaml"
    edit(path, "table: product_catalog", "table: products")
    assert issues(metadata) == [f"{path}: table: must match its path silver/products/products.yaml"]
