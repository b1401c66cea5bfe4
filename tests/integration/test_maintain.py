"""Retention on the sample lake: old closed versions move to the archive, current rows never move, a repeat
changes nothing; compaction leaves fewer files and the same rows, and vacuum removes unreferenced files without
changing any table."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from deltalake import DeltaTable
from pyspark.sql import SparkSession

from lakes import SAMPLE_AS_OF, SampleLake, lake_contents
from paylake.pipeline.maintain import maintain
from paylake.runtime.context import PaylakeContext
from paylake.silver.point_in_time import end_of_day

KEYS = {"accounts": "account_id", "invoices": "invoice_id", "invoice_line_items": "line_item_id", "skus": "sku_id"}


def rows(lake: Path, table: str) -> list[dict[str, Any]]:
    path = lake / "bronze" / table
    return DeltaTable(str(path)).to_pyarrow_table().to_pylist() if path.exists() else []


def ident(row: dict[str, Any], table: str) -> tuple[Any, ...]:
    return (row[KEYS[table]], row["record_version"], row["row_hash"])


def test_maintain_archives_old_versions_and_keeps_current_rows(
    spark: SparkSession, repo: Path, sample_lake: SampleLake, tmp_path: Path
) -> None:
    lake, metadata = tmp_path / "lake", tmp_path / "metadata"
    shutil.copytree(sample_lake.root, lake)
    shutil.copytree(repo / "metadata", metadata)
    for table in KEYS:
        path = metadata / "bronze" / table / f"{table}.yaml"
        path.write_text(path.read_text().replace("archive_after_days: 1095", "archive_after_days: 30"))
    local = metadata / "environments" / "local.yaml"
    local.write_text(local.read_text() + "vacuum_retention_hours: 0\n")
    before = {table: rows(lake, table) for table in KEYS}
    derived_before = {name: rows for name, rows in lake_contents(lake).items() if not name.startswith("bronze/")}
    ctx = PaylakeContext.create("local", metadata, repo / "landing", lake, spark=spark)

    results = {r.table: r for r in maintain(ctx, SAMPLE_AS_OF)}
    cutoff = end_of_day(SAMPLE_AS_OF - timedelta(days=30))
    archived_total = 0
    for table in KEYS:
        kept, archived = rows(lake, table), rows(lake, f"{table}_archive")
        assert sorted(ident(r, table) for r in kept + archived) == sorted(ident(r, table) for r in before[table])
        assert results[f"bronze.{table}"].archived == len(archived)
        current = sorted(ident(r, table) for r in before[table] if r["is_current"])
        assert sorted(ident(r, table) for r in kept if r["is_current"]) == current  # current rows never move
        assert all(r["effective_to"] is not None and r["effective_to"].replace(tzinfo=None) < cutoff for r in archived)
        latest: dict[Any, int] = {}
        for r in before[table]:
            latest[r[KEYS[table]]] = max(latest.get(r[KEYS[table]], 0), r["record_version"])
        kept_versions = {(r[KEYS[table]], r["record_version"]) for r in kept}
        assert all((key, version) in kept_versions for key, version in latest.items()), table
        archived_total += len(archived)
    assert archived_total > 100  # the sample's 90 days hold plenty of versions closed over 30 days ago
    assert sum(r.vacuumed_files for r in results.values()) > 0
    assert all(r.files_after <= r.files_before for r in results.values())
    # one commit per table per run: the run log has a file each; compacted, it has one
    assert results["ops.pipeline_runs"].files_before > 10 and results["ops.pipeline_runs"].files_after == 1
    assert {n: r for n, r in lake_contents(lake).items() if not n.startswith("bronze/")} == derived_before

    again = {r.table: r for r in maintain(ctx, SAMPLE_AS_OF)}
    assert all(again[f"bronze.{t}"].archived == 0 for t in KEYS)
    assert all(r.files_after == r.files_before for r in again.values())  # nothing left to compact
    for table in KEYS:  # nothing moved twice, nothing lost
        assert len(rows(lake, table)) + len(rows(lake, f"{table}_archive")) == len(before[table])
