"""Analysts and operators on the sample lake: every example query in sql/, SQL errors and formats, run and
quarantine reports, and the HTML dashboard rendered by a real headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from lakes import SAMPLE_AS_OF, SampleLake
from paylake.analytics import browser
from paylake.analytics.dashboard import CHARTS, ERROR_HOOK, write_dashboard
from paylake.analytics.lake_sql import render, run_query
from paylake.analytics.reports import quarantine_summary, recent_runs
from paylake.contract import TableRef
from paylake.errors import UsageError
from paylake.lake.delta_rs import DeltaRsStore


@pytest.mark.parametrize("name", sorted(p.name for p in (Path(__file__).parents[2] / "sql").glob("*.sql")))
def test_every_example_query_runs_on_the_demo_output(sample_lake: SampleLake, repo: Path, name: str) -> None:
    result = run_query(sample_lake.root, (repo / "sql" / name).read_text(), name)
    assert result.columns and result.rows, name
    if name == "top_risk_accounts.sql":
        scores = DeltaTable(str(sample_lake.root / "gold" / "customer_payment_metrics")).to_pyarrow_table()
        assert result.rows[0][3] == max(scores.column("risk_score").to_pylist())
    if name == "account_scd2_history.sql":
        versions = [row[1] for row in result.rows]
        assert versions == list(range(1, len(versions) + 1)) and len(versions) > 1
        assert [row[4] for row in result.rows].count(True) == 1


def test_sql_formats_and_errors(sample_lake: SampleLake) -> None:
    result = run_query(
        sample_lake.root, "SELECT risk_tier, count(*) AS n FROM gold.customer_payment_metrics GROUP BY 1"
    )
    assert sum(n for _, n in result.rows) == 240
    table = render(result)
    assert table.splitlines()[0].split() == ["risk_tier", "n"] and table.endswith(f"({len(result.rows)} rows)")
    assert sum(int(r["n"]) for r in csv.DictReader(io.StringIO(render(result, "csv")))) == 240
    assert sum(r["n"] for r in json.loads(render(result, "json"))) == 240
    with pytest.raises(
        UsageError, match=r"top\.sql: Catalog Error: Table with name nope does not exist.*tables: bronze"
    ):
        run_query(sample_lake.root, "SELECT * FROM gold.nope", "top.sql")
    with pytest.raises(UsageError, match="query: Parser Error: syntax error"):
        run_query(sample_lake.root, "SELEC 1")


@pytest.mark.parametrize(
    "attack",
    [
        "COPY (SELECT 1 AS x) TO '{target}'",
        "COPY gold.customer_payment_metrics TO '{lake}/gold/customer_payment_metrics/part-0.parquet' (FORMAT parquet)",
        "ATTACH '{target}' AS other",
        "SELECT * FROM read_text('{lake}/ops/pipeline_runs/_delta_log/00000000000000000000.json')",
        "SELECT * FROM read_csv('/etc/hostname')",
        "INSTALL httpfs",
        "SET enable_external_access = true",
    ],
)
def test_sql_is_read_only_and_reaches_no_file(sample_lake: SampleLake, tmp_path: Path, attack: str) -> None:
    target = tmp_path / "out.csv"
    before = sorted(str(p) for p in sample_lake.root.rglob("*"))
    with pytest.raises(UsageError, match=r"query: (Permission|Invalid Input) Error"):
        run_query(sample_lake.root, attack.format(target=target, lake=sample_lake.root) + "; SELECT 1")
    assert not target.exists() and sorted(str(p) for p in sample_lake.root.rglob("*")) == before


def test_runs_and_quarantine_reports(sample_lake: SampleLake) -> None:
    runs = recent_runs(sample_lake.root)
    by_layer = {row[1]: dict(zip(runs.columns, row, strict=True)) for row in runs.rows}
    assert set(by_layer) == {"bronze", "silver", "gold"}
    assert by_layer["bronze"]["status"] == "SUCCESS" and by_layer["bronze"]["tables"] == 4
    bronze = sample_lake.runs["bronze"].results
    assert by_layer["bronze"]["rows_rejected"] == sum(r.rows_rejected for r in bronze)
    summary = quarantine_summary(sample_lake.root, "invoices", examples=2)
    rejected = DeltaTable(str(sample_lake.root / "bronze" / "invoices_quarantine")).to_pyarrow_table()
    assert summary.splitlines()[0] == f"bronze.invoices_quarantine: {rejected.num_rows} rejected rows"
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^  (\w+): (\d+) rows?$", summary, re.M)}
    expected: dict[str, int] = {}
    for rules in rejected.column("_dq_rules").to_pylist():
        for rule in rules:
            expected[rule] = expected.get(rule, 0) + 1
    assert counts == expected
    examples = re.findall(r"^    (invoices_\d{8}\.csv) data row (\d+)  \w+: ", summary, re.M)
    assert examples and all(int(row) >= 1 for _, row in examples)
    shown = sum(1 for line in summary.splitlines() if line.startswith("    "))
    assert len(examples) == shown  # every example names its file and data row
    with pytest.raises(UsageError, match="no quarantine table bronze.payments_quarantine; quarantines: bronze"):
        quarantine_summary(sample_lake.root, "payments")


def test_dashboard_renders_in_headless_chromium(sample_lake: SampleLake, repo: Path, tmp_path: Path) -> None:
    assert browser.chromium(), "the dashboard test needs Chromium: run `make browser` (Debian package chromium)"
    page = write_dashboard(sample_lake.root, tmp_path / "dashboard.html")
    text = page.read_text()
    assert f"Score date {SAMPLE_AS_OF}" in text and "<script src=" not in text  # self-contained: nothing to fetch
    dom, console = browser.dump_dom(page)
    assert 'data-js-errors="0"' in dom, "the page reported script errors"
    assert not re.search(r"CONSOLE.*(Uncaught|Error)", console), console[-2000:]
    charts = {segment.split('"', 1)[0]: segment for segment in dom.split('id="chart-')[1:]}
    assert set(charts) == set(CHARTS)
    assert all('class="main-svg"' in segment for segment in charts.values()), "a chart did not render"
    top = dom.split('id="top-accounts"')[1].split("</table>")[0]
    assert top.count("<tr>") == 1 + 15  # header and the first 15 accounts of the worklist
    ranks = re.findall(r"<tr><td class=\"?num\"?>(\d+)</td>", top)
    assert ranks == [str(rank) for rank in range(1, 16)] and top.count(" new</td>") == 15  # one score date: all new
    feeds = dom.split('id="freshness"')[1].split("</table>")[0]
    assert feeds.count('<tr class="fresh">') == 4 and 'class="stale"' not in feeds  # the sample is complete
    assert 'id="stale-inputs"' not in dom  # so no banner says the figures miss a late feed's data
    assert feeds.count(f"<td>{SAMPLE_AS_OF}</td>") == 8  # each feed: last run as of, newest extract
    shot = browser.screenshot(page, repo / "build" / "dashboard.png")
    assert shot.stat().st_size > 50_000  # a blank page is a few kB


def test_a_broken_page_is_caught_by_the_browser_check(tmp_path: Path) -> None:
    """The error hook the dashboard installs counts a failing script, so the check above can fail."""
    page = tmp_path / "broken.html"
    page.write_text(f"<html><head>{ERROR_HOOK}</head><body><script>undefinedFunction();</script></body></html>")
    dom, _ = browser.dump_dom(page)
    assert 'data-js-errors="1"' in dom


def test_the_databricks_dashboard_queries_run_on_the_gold_tables(
    spark: SparkSession, repo: Path, sample_lake: SampleLake
) -> None:
    """Each dataset of the AI/BI dashboard runs in Spark SQL (the Databricks dialect) over the gold tables, and
    every widget asks only for columns its dataset returns."""
    definition = json.loads((repo / "resources" / "dashboards" / "payment_health.lvdash.json").read_text())
    for table in (
        "customer_payment_metrics",
        "payment_trends_monthly",
        "payment_health_dashboard",
        "collections_worklist",
    ):
        DeltaRsStore(spark, str(sample_lake.root)).read(TableRef("gold", table)).createOrReplaceTempView(table)
    columns = {}
    for dataset in definition["datasets"]:
        result = spark.sql("".join(dataset["queryLines"]))
        assert result.count() > 0, dataset["name"]
        columns[dataset["name"]] = set(result.columns)
    widgets = [item["widget"] for page in definition["pages"] for item in page["layout"]]
    assert len(widgets) >= 10
    for widget in widgets:
        (query,) = widget["queries"]
        dataset = query["query"]["datasetName"]
        used = {name for field in query["query"]["fields"] for name in re.findall(r"`(\w+)`", field["expression"])}
        assert used <= columns[dataset], (widget["name"], used - columns[dataset])
        encoded = json.dumps(widget["spec"]["encodings"])
        assert all(f'"{f["name"]}"' in encoded for f in query["query"]["fields"]), widget["name"]
