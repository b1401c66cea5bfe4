"""The benchmark's smoke run (scale 0.01): the script that `make bench` runs works end to end and its figures add
up, so it cannot rot. Timings themselves are never asserted here. It runs the embedded engine only: `make bench`
runs the Spark + Delta engine's phases through the same code (`phase`), and that engine's `run all` is checked
table for table by the engine parity tests; both engines here took 560 s of the suite instead of 210 s."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from paylake.config.loader import load_bronze, load_derived, open_source

pytestmark = pytest.mark.slow


def test_bench_smoke_run(repo: Path, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "bench/run_bench.py", "--scale", "0.01", "--engines", "local", "--out", str(tmp_path)]
        + ["--curve", "0.01"],  # the growth curve's point of the run's own scale reuses that run
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    source = open_source(str(repo / "metadata"))
    expected = {
        "bronze": set(load_bronze(source).tables),
        "silver": set(load_derived(source, "silver").tables),
        "gold": set(load_derived(source, "gold").tables),
    }
    dataset = results["dataset"]
    assert "spark_delta" not in results  # asked for the embedded engine alone
    engines = {"embedded": results}
    counts = {"initial": dataset["invoices_initial"], "increment": dataset["invoices_increment"]}
    for (engine, phases), (name, invoices) in itertools.product(engines.items(), counts.items()):
        phase, name = phases[name], f"{name} on {engine}"
        assert {layer: set(entry["tables"]) for layer, entry in phase["layers"].items()} == expected, name
        bronze = phase["layers"]["bronze"]["tables"]
        assert bronze["invoices"]["rows_read"] == invoices > 0, name
        for table in bronze.values():
            assert table["floor_s"] > 0 and table["x_floor"] == pytest.approx(table["seconds"] / table["floor_s"])
            assert 0 < table["scd2_s"] < table["seconds"]  # the SCD2 step is part of the table's time
        layer_sum = sum(e["seconds"] for e in phase["layers"].values())
        assert 0 < layer_sum < phase["wall_s"], name  # tables run inside the whole process
        # Every table logs the Spark jobs it ran, and they add up to the phase's.
        assert all(t["spark_jobs"] > 0 for e in phase["layers"].values() for t in e["tables"].values())
        assert sum(phase["spark_jobs"].values()) == sum(
            t["spark_jobs"] for e in phase["layers"].values() for t in e["tables"].values()
        )
        assert phase["spark_startup_s"] > 0 and phase["peak_rss_gib"] > 0.1  # the JVM is in the process tree
        assert set(phase["peak_rss_gib_by_program"]) == {"java", "python"}
        assert max(phase["peak_rss_gib_by_program"].values()) <= phase["peak_rss_gib"]
        # The peak sample's parts add up to it, and no part exceeds that program's own peak.
        at_peak = phase["peak_rss_gib_at_peak"]
        assert sum(at_peak.values()) == pytest.approx(phase["peak_rss_gib"])
        assert all(at_peak[p] <= phase["peak_rss_gib_by_program"][p] for p in at_peak), at_peak
        # Each table's peak is sampled while it ran: the JVM is up by then, and no table exceeds the process.
        tables = [t for entry in phase["layers"].values() for t in entry["tables"].values()]
        assert all(0.1 < t["peak_rss_gib"] <= phase["peak_rss_gib"] for t in tables), tables
        assert all(sum(t["peak_rss_gib_by_program"].values()) == pytest.approx(t["peak_rss_gib"]) for t in tables)
        assert list(bronze).index("invoices") < list(bronze).index("invoice_line_items")  # in the order they ran
    assert 0 < dataset["increment_share"] < 0.05
    assert [t["target"].split()[0] for t in results["targets"]] == ["full", "peak", "daily", "invoices", "bronze"]
    (point,) = results["curve"]
    assert point["scale"] == 0.01 and point["invoices_initial"] == dataset["invoices_initial"]
    assert point["initial_s"] == results["initial"]["wall_s"] and point["increment_s"] == results["increment"]["wall_s"]
    assert point["increment_share"] == pytest.approx(point["increment_s"] / point["initial_s"])
    assert point["increment_layers_s"] == {layer: e["seconds"] for layer, e in results["increment"]["layers"].items()}
    table = run.stdout
    assert "targets:" in table and table.count("initial (whole process)") == 1
    assert "growth curve" in table and f"{dataset['invoices_initial']:>12,}" in table
    assert all(f"    {t}" in table for t in expected["gold"])
