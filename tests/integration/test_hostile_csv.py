"""The hostile CSV corpus (tests/hostile/csv, described in its cases.yaml): every case ends in quarantine with a
reason or in a clear batch error naming the file; the other tables and earlier data are untouched; rows read =
loaded + rejected. A hypothesis test fuzzes row values under the same accounting."""

from __future__ import annotations

import csv
import io
import logging
import shutil
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from deltalake import DeltaTable
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession

from paylake.datagen.generator import GeneratorConfig, write_landing
from paylake.pipeline.runner import run_bronze
from paylake.runtime.context import PaylakeContext

CORPUS = Path(__file__).parents[1] / "hostile" / "csv"
CASES: dict[str, dict[str, Any]] = yaml.safe_load((CORPUS / "cases.yaml").read_text())
END, DAY = date(2026, 3, 10), date(2026, 3, 11)
TABLE = "invoice_line_items"
HEADER = ["line_item_id", "invoice_id", "sku_id", "quantity", "unit_price", "discount_pct", "line_amount", "updated_at"]
HUGE, FIFTY_MB = 10 * 1024 * 1024, 50 * 1024 * 1024
EXTRA = [f"extra_{index:05d}" for index in range(10_000 - len(HEADER))]


def _seventh_row(change: Callable[[list[str]], object]) -> Callable[[list[list[str]]], list[str]]:
    """A generated case that changes the seventh row only; the header stays."""

    def make(rows: list[list[str]]) -> list[str]:
        change(rows[6])
        return HEADER

    return make


def _ten_thousand_columns(rows: list[list[str]]) -> list[str]:
    for row in rows:
        row.extend(["x"] * len(EXTRA))
    return [*HEADER, *EXTRA]


# Cases too big to store, made by the test from 20 rows (each returns the header): the seventh row gets a 10 MB
# or a 50 MB value, or 25,000 fields (under the default max_fields, quarantined), or 150,000 (over it, the file
# refused); or the file has 10,000 columns, or a header of 1.1 MB.
GENERATED: dict[str, Callable[[list[list[str]]], list[str]]] = {
    "huge_field": _seventh_row(lambda row: row.__setitem__(2, "S" * HUGE)),
    "fifty_mb_field": _seventh_row(lambda row: row.__setitem__(2, "S" * FIFTY_MB)),
    "wide_row": _seventh_row(lambda row: row.extend([""] * (25_000 - len(row)))),
    "too_wide_row": _seventh_row(lambda row: row.extend([""] * (150_000 - len(row)))),
    "ten_thousand_columns": _ten_thousand_columns,
    "endless_header": lambda rows: [*HEADER, *(f"column_{index:020d}" for index in range(40_000))],
}


@pytest.fixture(scope="module")
def loaded(spark: SparkSession, repo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A landing zone up to END and a lake with all of it loaded (each case works on copies)."""
    root = tmp_path_factory.mktemp("hostile")
    landing, lake = root / "landing", root / "lake"
    write_landing(GeneratorConfig(accounts=30, skus=5, days=2, end=END, seed=5, history_days=10), landing)
    assert run_bronze(PaylakeContext.create("local", repo / "metadata", landing, lake, spark=spark), "all", END).ok
    return landing, lake


@pytest.fixture(scope="module")
def metadata(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled metadata with a day's lag allowed and line items not waiting for their invoices' day: each case
    delivers one feed's file for DAY, the day after the others' last (the bundled `max_lag_days: 0` would rightly
    fail the feeds that sent nothing, and `complete_with: [invoices]` would rightly hold the lines back)."""
    copy = tmp_path_factory.mktemp("metadata") / "metadata"
    shutil.copytree(repo / "metadata", copy)
    for path in (copy / "bronze").rglob("*.yaml"):
        text = path.read_text().replace("max_lag_days: 0", "max_lag_days: 1")
        path.write_text(text.replace("complete_with: [invoices]", "complete_with: []"))
    return copy


def case_files(case: str, landing: Path) -> list[Path]:
    """Add a case's files to ``landing``; returns their paths there."""
    if case in GENERATED:
        rows = [
            [f"HX-{case}-{i:02d}", f"INV-{i:08d}", "SKU-00001", "1", "1.00", "0.00", "1.00", "2026-03-11 09:00:00"]
            for i in range(1, 21)
        ]
        header = GENERATED[case](rows)
        path = landing / TABLE / f"{TABLE}_20260311.csv"
        path.write_text(csv_text(rows, header))
        return [path]
    added = []
    for source in sorted(p for p in (CORPUS / case).rglob("*") if p.is_file()):
        target = landing / source.relative_to(CORPUS / case)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        added.append(target)
    return added


def csv_text(rows: list[list[str]], header: list[str] = HEADER) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *rows])
    return buffer.getvalue()


def data_rows(path: Path) -> int:
    """Records in a CSV file as Python's csv module counts them (the header excluded)."""
    csv.field_size_limit(FIFTY_MB + 1)
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)


def arrow(lake: Path, layer: str, table: str) -> Any:
    path = lake / layer / table
    return DeltaTable(str(path)).to_pyarrow_table() if path.exists() else None


def snapshot(lake: Path) -> dict[str, int]:
    return {f"bronze.{p.name}": DeltaTable(str(p)).version() for p in (lake / "bronze").iterdir()}


def file_log(lake: Path, name: str) -> list[dict[str, Any]]:
    return [row for row in arrow(lake, "ops", "ingested_files").to_pylist() if row["file_name"] == name]


def rows_of(lake: Path, table: str, name: str) -> list[dict[str, Any]]:
    data = arrow(lake, "bronze", table)
    return [] if data is None else [row for row in data.to_pylist() if row["_source_file"] == name]


def rows_not_from(lake: Path, added: list[Path]) -> list[str]:
    """The target's rows from files other than the case's (which a redelivery shares a name with)."""
    names = {path.name for path in added}
    return sorted(repr(row) for row in arrow(lake, "bronze", TABLE).to_pylist() if row["_source_file"] not in names)


def assert_accounted(lake: Path, path: Path, rejected: dict[str, int] | None, written: int | None = None) -> None:
    """Rows read (``written``, or as Python's csv module counts them) = loaded + rejected, each row in exactly
    one place, as the file log says; ``rejected`` (if given) is the quarantined rows per rule."""
    (logged,) = file_log(lake, path.name)
    quarantined = rows_of(lake, f"{TABLE}_quarantine", path.name)
    target = rows_of(lake, TABLE, path.name)
    assert logged["rows_read"] == (data_rows(path) if written is None else written)
    assert logged["rows_loaded"] + logged["rows_rejected"] == logged["rows_read"]
    assert (len(target), len(quarantined)) == (logged["rows_loaded"], logged["rows_rejected"])
    if rejected is not None:
        assert Counter(rule for row in quarantined for rule in row["_dq_rules"]) == Counter(rejected)
    assert all(row["_dq_reason"] for row in quarantined)


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=pytest.mark.extended) if CASES[c].get("suite") == "extended" else c for c in sorted(CASES)],
    ids=str,
)
def test_hostile_file_is_quarantined_or_refused_and_nothing_else_moves(
    case: str,
    loaded: tuple[Path, Path],
    spark: SparkSession,
    metadata: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec = CASES[case]
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    shutil.copytree(loaded[0], landing)
    shutil.copytree(loaded[1], lake)
    added = case_files(case, landing)
    before = snapshot(lake)
    earlier = rows_not_from(lake, added)
    context = PaylakeContext.create("local", metadata, landing, lake, spark=spark)

    with caplog.at_level(logging.WARNING):
        outcome = {r.table: r for r in run_bronze(context, "all", DAY).results}
    after = snapshot(lake)
    changed = {name for name in after if after[name] != before.get(name)}
    others = {f"bronze.{t}" for t in ("accounts", "invoices", "skus")}
    assert not changed & others, "a table without new files changed"
    assert all(outcome[t].status == "SUCCESS" for t in ("accounts", "invoices", "skus"))
    result = outcome[TABLE]
    expect = spec["expect"]

    if expect == "error":
        assert result.status == "FAILED" and spec["message"] in (result.error or ""), result.error
        assert str(added[0]) in (result.error or "")
        # Only a batch held back by its pass rate writes (its quarantine); a refused file writes nothing.
        assert changed == ({f"bronze.{TABLE}_quarantine"} if "rejected" in spec else set()), changed
        assert not [r for r in arrow(lake, "ops", "ingested_files").to_pylist() if r["extract_date"] == DAY]
        if "rejected" in spec:
            quarantined = rows_of(lake, f"{TABLE}_quarantine", added[0].name)
            assert Counter(rule for row in quarantined for rule in row["_dq_rules"]) == Counter(spec["rejected"])
    elif expect == "loaded":
        assert result.status == "SUCCESS", result.error
        assert_accounted(lake, added[0], spec.get("rejected", {}), spec.get("read"))
        loaded_rows = {row["line_item_id"]: row for row in rows_of(lake, TABLE, added[0].name)}
        for key, columns in spec.get("values", {}).items():
            for column, text in columns.items():
                value = loaded_rows[key][column]
                assert (None if value is None else str(value)) == text, (key, column, value)
        quarantined = {row["line_item_id"]: row for row in rows_of(lake, f"{TABLE}_quarantine", added[0].name)}
        for key, lengths in spec.get("truncated", {}).items():  # cut to max_field_chars, the length recorded
            for column, length in lengths.items():
                value = quarantined[key][column]
                assert value.endswith(f"...[truncated: {length} characters]") and len(value) < 65_536 + 40, column
    elif expect == "ignored":
        assert result.status == "SUCCESS" and not changed, changed
        assert any(spec["message"] in record.getMessage() for record in caplog.records), caplog.text
    else:  # deferred
        assert result.status == "SUCCESS" and not changed and not file_log(lake, added[0].name)
        later = date(2026, 3, 12)
        assert run_bronze(context, TABLE, later).ok
        assert_accounted(lake, added[0], {})
    assert rows_not_from(lake, added) == earlier, "earlier rows changed"


def test_the_corpus_covers_the_issue_list() -> None:
    assert {
        "empty_file",
        "header_only",
        "wrong_header",
        "reordered_header",
        "missing_required_column",
        "extra_column",
        "utf8_bom",
        "crlf_line_endings",
        "quoted_delimiters_and_newlines",
        "invalid_utf8",
        "huge_field",
        "wide_row",
        "too_wide_row",
        "wrong_delimiter",
        "thousands_separators",
        "other_date_format",
        "unknown_table",
        "dated_after_as_of",
        "redelivered_with_other_content",
        "utf16_with_bom",
        "latin1_accents",
        "windows1252_smart_quotes",
        "gzip_named_csv",
        "only_blank_lines",
        "nan_quantity",
        "infinity_price",
        "overflowing_amount",
        "impossible_date",
        "earliest_date",
        "latest_date",
        "duplicate_header_name",
        "ten_thousand_columns",
    } <= set(CASES)
    assert len(CASES) >= 50
    stored = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    assert stored == set(CASES) - set(GENERATED)


HOSTILE_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"])
    | st.sampled_from([",", '"', "\n", "\r", ";", "\ufeff"]),
    max_size=12,
)
VALID = ["INV-00000001", "SKU-00001", "3", "12.50", "0.00", "37.50", "2026-03-11 09:00:00"]


@st.composite
def fuzzed_rows(draw: st.DrawFn) -> list[list[str]]:
    """Up to 30 rows with unique keys; each other value is valid, or (one time in four) hostile text."""
    rows = []
    for index in range(draw(st.integers(1, 30))):
        values = [draw(HOSTILE_TEXT) if draw(st.integers(0, 3)) == 0 else valid for valid in VALID]
        rows.append([f"FZ{index:03d}" + draw(HOSTILE_TEXT), *values])
    return rows


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=fuzzed_rows())
def test_fuzzed_values_are_loaded_or_quarantined_never_lost(
    rows: list[list[str]], loaded: tuple[Path, Path], spark: SparkSession, metadata: Path, tmp_path_factory: Any
) -> None:
    work = tmp_path_factory.mktemp("fuzz")
    landing, lake = work / "landing", work / "lake"
    shutil.copytree(loaded[0], landing)
    shutil.copytree(loaded[1], lake)
    path = landing / TABLE / f"{TABLE}_20260311.csv"
    path.write_text(csv_text(rows), encoding="utf-8", newline="")
    context = PaylakeContext.create("local", metadata, landing, lake, spark=spark)
    (result,) = run_bronze(context, TABLE, DAY).results
    # Written with LF endings, a bare CR inside a value is left unquoted: Spark keeps it in the value (as
    # intended), Python's reader would end the record there, so the count to meet is the rows written.
    assert result.rows_read == len(rows)
    if result.status == "SUCCESS":
        assert_accounted(lake, path, None, len(rows))
    else:  # held back by its pass rate: nothing loaded, every rejected row kept
        assert "Data quality check failed" in (result.error or "") and not rows_of(lake, TABLE, path.name)
        assert not file_log(lake, path.name) and result.rows_loaded == 0
    assert len(rows_of(lake, f"{TABLE}_quarantine", path.name)) == result.rows_rejected
    assert result.rows_loaded + result.rows_rejected + result.rows_held_back == result.rows_read
    shutil.rmtree(work)
