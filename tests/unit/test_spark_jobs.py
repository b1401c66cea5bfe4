"""bench/spark_jobs.py puts each job of a run down to its table and to what started it, from the job start events
Spark writes to its event log (their shape as Spark 4.0 writes them)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("spark_jobs", REPO / "bench" / "spark_jobs.py")
assert _spec is not None and _spec.loader is not None
spark_jobs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(spark_jobs)


def job(tags: str | None, description: str | None, site: str = "", details: str = "x", stages: int = 1) -> Any:
    properties = {"spark.job.tags": tags, "spark.job.description": description, "callSite.short": site}
    infos = [{"Stage Name": site or "stage", "Details": details}] * stages
    return {"Event": "SparkListenerJobStart", "Properties": properties, "Stage Infos": infos}


def test_jobs_are_put_down_to_their_table_and_what_started_them(tmp_path: Path) -> None:
    tags = "a-notebook-tag,paylake:bronze.invoices"
    events = [
        job(tags, "paylake bronze.invoices", "collect at /x/src/paylake/quality/gate.py:176"),
        job(tags, "paylake bronze.invoices", "collect at /x/src/paylake/quality/gate.py:176"),
        job(tags, "Delta: paylake bronze.invoices: Compute snapshot for version: 3"),
        job(tags, "Delta: paylake bronze.invoices: Filtering files for query"),
        job(tags, "Listing leaf files and directories for 4 paths:<br/>file:/landing/invoices/a.csv, ..."),
        job(tags, "paylake bronze.invoices", "run at ThreadPoolExecutor.java:1136", "at MergeIntoCommand.run(...)"),
        job(tags, "paylake bronze.invoices", "save at NativeMethodAccessorImpl.java:0", stages=0),
        job("paylake:silver.invoice_details", "paylake silver.invoice_details", "a at /x/paylake/lake/store.py:115"),
        job(None, None, "collect at /x/src/paylake/lake/store.py:99"),
    ]
    (tmp_path / "app").mkdir()
    lines = [json.dumps({"Event": "SparkListenerApplicationStart"}), *(json.dumps(e) for e in events)]
    (tmp_path / "app" / "events_1_local-1").write_text("\n".join(lines) + "\n")

    tables = spark_jobs.breakdown(list(spark_jobs.job_starts(tmp_path)))
    assert dict(tables["bronze.invoices"]) == {
        "paylake quality/gate.py:176": 2,
        "Delta: table state after a commit or on first read": 1,
        "Delta: files of a scan (data skipping)": 1,
        "Spark: listing landing files": 1,
        "Delta: MergeIntoCommand": 1,
        "no stage (nothing to compute)": 1,
    }
    assert dict(tables["silver.invoice_details"]) == {"paylake lake/store.py:115": 1}
    assert dict(tables["(outside a table)"]) == {"paylake lake/store.py:99": 1}
    report = spark_jobs.render(tables)
    assert report.startswith("9 Spark jobs") and "  bronze.invoices" in report
    assert "quality/gate.py:176" in report
