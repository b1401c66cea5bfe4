"""Metadata loading and validation: every problem reported as file: key.path: reason, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from paylake.cli import main
from paylake.config.loader import LocalMetadataSource, load_bronze, load_environment, validate_metadata
from paylake.errors import InvalidConfigError


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
    with pytest.raises(InvalidConfigError, match=r"no such environment; available: dev, local"):
        load_environment(LocalMetadataSource(metadata), "staging")


def test_validate_command_exit_codes(metadata: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(metadata)]) == 0
    edit(metadata / "bronze/skus/skus.yaml", "sequence_column: updated_at", "sequence_column: sku_name")
    assert main(["validate", str(metadata)]) == 2
    out = capsys.readouterr().out
    assert "bronze/skus/skus.yaml: sequence_column: 'sku_name' must be a timestamp or date column" in out
