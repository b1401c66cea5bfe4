"""paylake benchmark: a seeded dataset, the full initial load and one daily increment as whole `paylake run all`
processes, against the floor (pyarrow CSV read + write_deltalake of the same files) measured in the same run, on
the embedded engine (the targets' engine) and then on the local Spark + Delta engine (the code Databricks runs).

    python bench/run_bench.py [--scale 1.0] [--seed 11] [--engines local,local-spark] [--out build/bench]

Writes ``<out>/results.json`` (a growth curve point's whole run also to ``<out>/scale-<s>/results.json``) and
prints a table. The dataset is cached under ``<out>/data-...`` (same scale and seed, same bytes), the lakes are
rebuilt on every run. Linux only: peak RSS is read from /proc for the whole process tree (Python and the Spark
JVM) every 100 ms; each table's column is the peak sampled while it ran.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from deltalake import DeltaTable, write_deltalake

from paylake.datagen.generator import GeneratorConfig, write_landing

REPO = Path(__file__).resolve().parents[1]
END = date(2026, 11, 20)  # the increment's extract date; the initial load is the day before
FEEDS = ("accounts", "skus", "invoices", "invoice_line_items")
LAYERS = ("bronze", "silver", "gold")
SPARK_STARTED = re.compile(r"local Spark \(.*\) started in ([\d.]+) s")
SAMPLE_S = 0.1  # RSS sampling interval
SCD2_STEP = re.compile(r"bronze\.(\w+): SCD2 step ([\d.]+) s")  # changes + merge, logged by the ingest
SPARK_JOBS = re.compile(r"(\w+)\.(\w+): done in [\d.]+ s, (\d+) Spark jobs")  # logged by the runner per table
# Default scale 1.0: 20,000 accounts, 2,000 SKUs, ~1,000,000 invoices and ~3,000,000 line items over 121 days.
ACCOUNTS, SKUS, HISTORY_DAYS, INVOICE_RATE = 20_000, 2_000, 120, 3.2


def dataset_config(scale: float, seed: int) -> GeneratorConfig:
    return GeneratorConfig(
        accounts=max(50, round(ACCOUNTS * scale)),
        skus=max(20, round(SKUS * scale)),
        days=2,  # extract 1 carries all history (the initial load), extract 2 is the daily increment
        history_days=HISTORY_DAYS,
        invoice_rate=INVOICE_RATE,
        end=END,
        seed=seed,
    )


def ensure_dataset(config: GeneratorConfig, root: Path) -> Path:
    """Generate the landing files once per (scale, seed); reuse them when complete."""
    key = f"data-a{config.accounts}-s{config.skus}-h{config.history_days}-r{config.invoice_rate}-seed{config.seed}"
    landing = root / key
    done = landing / "_COMPLETE"
    if not done.exists():
        shutil.rmtree(landing, ignore_errors=True)
        started = time.perf_counter()
        stats = write_landing(config, landing)
        done.write_text(json.dumps({"rows": stats.rows, "bytes": stats.bytes}))
        took = time.perf_counter() - started
        sys.stdout.write(f"generated {stats.rows:,} rows ({stats.bytes / 1e6:.0f} MB) in {took:.0f} s\n")
    return landing


def feed_files(landing: Path, day: date) -> dict[str, Path]:
    return {feed: landing / feed / f"{feed}_{day:%Y%m%d}.csv" for feed in FEEDS}


def csv_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b"")) - 1


# ---------------------------------------------------------------------------------------------------- the floor


def floor(files: dict[str, Path], lake: Path, append: bool) -> dict[str, float]:
    """Seconds to read each file with pyarrow (all columns as strings, as landed) and write it with delta-rs."""
    seconds = {}
    for feed, path in files.items():
        started = time.perf_counter()
        with path.open(encoding="utf-8") as handle:
            names = handle.readline().strip().split(",")
        table = pacsv.read_csv(
            path, convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()))
        )
        if append:
            write_deltalake(str(lake / feed), table, mode="append")
        else:
            write_deltalake(str(lake / feed), table, mode="overwrite")
        seconds[feed] = time.perf_counter() - started
    return seconds


# ------------------------------------------------------------------------------------------- whole-process runs


def _tree_rss(root_pid: int) -> dict[str, int]:
    """Resident bytes of a process and all its descendants (from /proc), summed per program (java, python)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    by_program: dict[str, int] = {}
    todo = [root_pid]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        name = re.search(r"^Name:\s+(\S+)", status, re.M)
        program = "java" if name and name.group(1) == "java" else "python"  # the CLI and its helpers
        by_program[program] = by_program.get(program, 0) + (int(match.group(1)) * 1024 if match else 0)
    return by_program


@dataclass
class ProcessRun:
    wall_s: float
    peak_rss_bytes: int
    peak_rss_by_program: dict[str, int]  # each program's own peak (they need not peak at the same moment)
    spark_startup_s: float | None
    scd2_s: dict[str, float]  # bronze table -> seconds of its SCD2 step
    spark_jobs: dict[str, int]  # layer.table -> Spark jobs it ran
    returncode: int
    stderr_tail: str
    samples: list[tuple[float, dict[str, int]]]  # (epoch seconds, RSS bytes per program) every 100 ms

    def peak_between(self, start: float, end: float) -> dict[str, int]:
        """The sample with the largest tree RSS in ``[start, end]`` (epoch seconds), per program, widened by one
        sampling interval so that even a table shorter than it has a sample; empty when there is none."""
        window = [rss for at, rss in self.samples if start - SAMPLE_S <= at <= end + SAMPLE_S]
        return max(window, key=lambda rss: sum(rss.values()), default={})


def run_paylake(args: list[str], log: Path) -> ProcessRun:
    """Run ``paylake <args>`` as its own process; sample the process tree's RSS every 100 ms."""
    paylake = Path(sys.executable).with_name("paylake")
    command = [str(paylake) if paylake.exists() else "paylake", *args]
    peak = 0
    peaks: dict[str, int] = {}
    samples: list[tuple[float, dict[str, int]]] = []
    with log.open("w") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, stdout=err, stderr=subprocess.STDOUT)
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                rss = _tree_rss(process.pid)
                samples.append((time.time(), rss))
                peak = max(peak, sum(rss.values()))
                for program, size in rss.items():
                    peaks[program] = max(peaks.get(program, 0), size)
                stop.wait(SAMPLE_S)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        returncode = process.wait()
        wall = time.perf_counter() - started
        stop.set()
        sampler.join()
    text = log.read_text(errors="replace")
    match = SPARK_STARTED.search(text)
    scd2 = {table: float(seconds) for table, seconds in SCD2_STEP.findall(text)}
    startup = float(match.group(1)) if match else None
    jobs = {f"{layer}.{table}": int(count) for layer, table, count in SPARK_JOBS.findall(text)}
    return ProcessRun(wall, peak, peaks, startup, scd2, jobs, returncode, text[-3000:], samples)


def table_runs(lake: Path, as_of: date) -> list[dict[str, Any]]:
    """ops.pipeline_runs rows of the latest command run for ``as_of`` (its layers share one run id), in the order
    they ran (tables run one after another; ``started_at`` is the command's start, the same for all)."""
    rows = [r for r in DeltaTable(str(lake / "ops" / "pipeline_runs")).to_pyarrow_table().to_pylist()]
    rows = [r for r in rows if r["as_of"] == as_of]
    latest = max(rows, key=lambda r: r["started_at"])["run_id"]
    return sorted((r for r in rows if r["run_id"] == latest), key=lambda r: r["finished_at"])


def _gib(by_program: dict[str, int]) -> dict[str, float]:
    return {name: size / 2**30 for name, size in sorted(by_program.items())}


def phase(
    name: str, engine: str, lake: Path, landing: Path, as_of: date, floor_s: dict[str, float], out: Path
) -> dict[str, Any]:
    arguments = ["run", "all", "--env", engine, "--as-of", str(as_of), "--lake", str(lake), "--landing", str(landing)]
    run = run_paylake(arguments, out / f"{name}-{engine}.log")
    if run.returncode != 0:
        raise SystemExit(f"bench: `paylake run all` ({name}, {engine}) exited {run.returncode}:\n{run.stderr_tail}")
    floor_total = sum(floor_s.values())
    layers: dict[str, Any] = {}
    for r in table_runs(lake, as_of):
        layer = layers.setdefault(r["layer"], {"seconds": 0.0, "tables": {}})
        layer["seconds"] += r["seconds"]
        rows = r["rows_read"] or 0
        finished = r["finished_at"].replace(tzinfo=timezone.utc).timestamp()  # stored as naive UTC
        at_peak = run.peak_between(finished - r["seconds"], finished)
        entry = {
            "seconds": r["seconds"],
            "rows_read": rows,
            "rows_per_s": rows / r["seconds"] if r["seconds"] else 0,
            "spark_jobs": run.spark_jobs.get(f"{r['layer']}.{r['table']}"),
            "peak_rss_gib": sum(at_peak.values()) / 2**30,
            "peak_rss_gib_by_program": _gib(at_peak),  # at that sample: what held the memory at the table's peak
        }
        if r["layer"] == "bronze":
            entry["scd2_s"] = run.scd2_s.get(r["table"])
            entry["floor_s"] = floor_s[r["table"]]
            entry["x_floor"] = r["seconds"] / floor_s[r["table"]]
        layer["tables"][r["table"]] = entry
    return {
        "as_of": str(as_of),
        "wall_s": run.wall_s,
        "x_floor": run.wall_s / floor_total,
        "floor_s": floor_total,
        "spark_startup_s": run.spark_startup_s,
        "spark_jobs": run.spark_jobs,
        "peak_rss_gib": run.peak_rss_bytes / 2**30,
        "peak_rss_gib_at_peak": _gib(run.peak_between(0, float("inf"))),
        "peak_rss_gib_by_program": _gib(run.peak_rss_by_program),  # each program's own peak
        "layers": layers,
    }


# ------------------------------------------------------------------------------------------------------ report


def targets(initial: dict[str, Any], increment: dict[str, Any]) -> list[dict[str, Any]]:
    bronze_invoices = initial["layers"]["bronze"]["tables"]["invoices"]
    day2_invoices = increment["layers"]["bronze"]["tables"]["invoices"]["scd2_s"] or float("inf")
    return [
        {"target": "full initial load bronze -> gold <= 180 s", "measured": initial["wall_s"], "limit": 180.0},
        {
            "target": "peak RSS <= 3 GiB (initial and increment)",
            "measured": max(initial["peak_rss_gib"], increment["peak_rss_gib"]),
            "limit": 3.0,
        },
        {
            "target": "daily increment <= 30% of the full load",
            "measured": increment["wall_s"] / initial["wall_s"],
            "limit": 0.30,
        },
        {"target": "invoices day-2 SCD2 step <= 2 s (in-process)", "measured": day2_invoices, "limit": 2.0},
        {"target": "bronze invoices initial <= 15x floor", "measured": bronze_invoices["x_floor"], "limit": 15.0},
    ]


def _split(by_program: dict[str, float]) -> str:
    """``java+python`` GiB of one RSS sample, e.g. ``2.08+0.95``."""
    return f"{by_program.get('java', 0):.2f}+{by_program.get('python', 0):.2f}"


def render(results: dict[str, Any]) -> str:
    lines = [
        f"paylake bench: scale {results['scale']}, {results['dataset']['invoices_initial']:,} invoices, "
        f"{results['dataset']['invoice_line_items_initial']:,} line items; increment "
        f"{results['dataset']['invoices_increment']:,} invoices ({results['dataset']['increment_share']:.1%})",
        f"{'phase / layer / table':<44}{'seconds':>9}{'rows read':>12}{'rows/s':>11}{'peak GiB':>9}{'java+py':>10}"
        f"{'jobs':>6}{'x floor':>9}{'SCD2 s':>9}",
    ]
    phases = [(name, results[name]) for name in ("initial", "increment")]
    phases += [(f"{name} Spark + Delta", p) for name, p in results.get("spark_delta", {}).items()]
    for name, p in phases:
        lines.append(
            f"{name + ' (whole process)':<44}{p['wall_s']:>9.1f}{'':>12}{'':>11}{p['peak_rss_gib']:>9.2f}"
            f"{_split(p['peak_rss_gib_at_peak']):>10}{sum(p['spark_jobs'].values()):>6}{p['x_floor']:>9.1f}"
            f"   Spark start-up {p['spark_startup_s'] or 0:.1f} s, peak RSS {p['peak_rss_gib']:.2f} GiB ("
            + ", ".join(f"{name} {gib:.2f}" for name, gib in p["peak_rss_gib_at_peak"].items())
            + "; each program's own peak: "
            + ", ".join(f"{name} {gib:.2f}" for name, gib in p["peak_rss_gib_by_program"].items())
            + ")"
        )
        for layer in LAYERS:
            entry = p["layers"].get(layer)
            if entry is None:
                continue
            lines.append(f"  {layer:<42}{entry['seconds']:>9.1f}")
            for table, t in entry["tables"].items():
                ratio = f"{t['x_floor']:>9.1f}" if "x_floor" in t else f"{'':>9}"
                scd2 = f"{t['scd2_s']:>9.2f}" if t.get("scd2_s") is not None else ""
                lines.append(
                    f"    {table:<40}{t['seconds']:>9.2f}{t['rows_read']:>12,}{t['rows_per_s']:>11,.0f}"
                    f"{t['peak_rss_gib']:>9.2f}{_split(t['peak_rss_gib_by_program']):>10}{t['spark_jobs'] or 0:>6}"
                    f"{ratio}{scd2}"
                )
    lines.append(
        f"floor (pyarrow read + write_deltalake): initial {results['initial']['floor_s']:.2f} s, "
        f"increment {results['increment']['floor_s']:.2f} s"
    )
    lines.append("targets:")
    for t in results["targets"]:
        verdict = "met" if t["measured"] <= t["limit"] else "MISSED"
        lines.append(f"  {t['target']:<52}{t['measured']:>9.2f}  {verdict}")
    return "\n".join(lines)


def measure(scale: float, seed: int, data: Path, work: Path, engines: list[str]) -> dict[str, Any]:
    """The floor, the initial load and the increment on the dataset of ``scale`` (cached under ``data``), with
    lakes and logs under ``work``: the embedded engine, then the others of ``engines``."""
    config = dataset_config(scale, seed)
    landing = ensure_dataset(config, data)
    day1, day2 = END - timedelta(days=1), END
    files1, files2 = feed_files(landing, day1), feed_files(landing, day2)
    work.mkdir(parents=True, exist_ok=True)
    for lake in ("lake", "lake-local-spark", "floor"):
        shutil.rmtree(work / lake, ignore_errors=True)
    floor1 = floor(files1, work / "floor", append=False)
    floor2 = floor(files2, work / "floor", append=True)
    initial = phase("initial", "local", work / "lake", landing, day1, floor1, work)
    increment = phase("increment", "local", work / "lake", landing, day2, floor2, work)
    invoices1, invoices2 = csv_rows(files1["invoices"]), csv_rows(files2["invoices"])
    results: dict[str, Any] = {
        "scale": scale,
        "seed": seed,
        "dataset": {
            "config": {k: str(v) for k, v in asdict(config).items()},
            "invoices_initial": invoices1,
            "invoice_line_items_initial": csv_rows(files1["invoice_line_items"]),
            "invoices_increment": invoices2,
            "increment_share": invoices2 / invoices1,
            "bytes_initial": sum(p.stat().st_size for p in files1.values()),
        },
        "initial": initial,
        "increment": increment,
    }
    if "local-spark" in engines:  # the same data on the engine Databricks runs, after the embedded one
        spark_lake = work / "lake-local-spark"
        results["spark_delta"] = {
            "initial": phase("initial", "local-spark", spark_lake, landing, day1, floor1, work),
            "increment": phase("increment", "local-spark", spark_lake, landing, day2, floor2, work),
        }
    return results


def curve_point(results: dict[str, Any]) -> dict[str, Any]:
    """One scale's point of the growth curve (embedded engine)."""
    initial, increment = results["initial"], results["increment"]
    return {
        "scale": results["scale"],
        "invoices_initial": results["dataset"]["invoices_initial"],
        "invoice_line_items_initial": results["dataset"]["invoice_line_items_initial"],
        "invoices_increment": results["dataset"]["invoices_increment"],
        "initial_s": initial["wall_s"],
        "initial_x_floor": initial["x_floor"],
        "increment_s": increment["wall_s"],
        "increment_share": increment["wall_s"] / initial["wall_s"],
        "increment_layers_s": {layer: entry["seconds"] for layer, entry in increment["layers"].items()},
        "peak_rss_gib": max(initial["peak_rss_gib"], increment["peak_rss_gib"]),
    }


def render_curve(curve: list[dict[str, Any]]) -> str:
    """How the full load and the increment grow with the data (embedded engine), each against the smallest scale."""
    base = curve[0]
    lines = [
        "growth curve (embedded engine; growth against the smallest scale):",
        f"  {'scale':>6}{'invoices':>12}{'line items':>12}{'full load s':>13}{'growth':>8}{'increment s':>13}"
        f"{'growth':>8}{'incr/full':>10}{'incr bronze/silver/gold s':>28}{'peak GiB':>10}",
    ]
    for p in curve:
        layers = "/".join(f"{p['increment_layers_s'].get(layer, 0):.0f}" for layer in LAYERS)
        lines.append(
            f"  {p['scale']:>6g}{p['invoices_initial']:>12,}{p['invoice_line_items_initial']:>12,}"
            f"{p['initial_s']:>13.1f}{p['initial_s'] / base['initial_s']:>7.1f}x{p['increment_s']:>13.1f}"
            f"{p['increment_s'] / base['increment_s']:>7.1f}x{p['increment_share']:>10.0%}{layers:>28}"
            f"{p['peak_rss_gib']:>10.2f}"
        )
    return "\n".join(lines)


def _scales(text: str) -> list[float]:
    scales = sorted({float(part) for part in text.split(",") if part.strip()})
    if any(scale <= 0 for scale in scales):
        raise ValueError(text)
    return scales


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 20k accounts, ~1M invoices")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench")
    parser.add_argument(
        "--engines",
        default="local,local-spark",
        help="comma-separated: local (embedded, the targets' engine) and/or local-spark (Spark + native Delta)",
    )
    parser.add_argument(
        "--curve",
        default="",
        help="comma-separated scales of the growth curve (e.g. 0.1,1,5): the embedded engine's initial load and "
        "increment at each, the --scale run reused",
    )
    args = parser.parse_args(argv)
    engines = [engine.strip() for engine in args.engines.split(",") if engine.strip()]
    if not engines or not set(engines) <= {"local", "local-spark"} or "local" not in engines:
        parser.error("--engines must name local, optionally with local-spark")
    if args.scale <= 0:
        parser.error("--scale must be positive")
    try:
        curve_scales = _scales(args.curve)
    except ValueError:
        parser.error(f"--curve must be positive scales separated by commas, got {args.curve!r}")
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = measure(args.scale, args.seed, out, out, engines)
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()}
    results["targets"] = targets(results["initial"], results["increment"])
    if curve_scales:
        runs = {args.scale: results}
        for scale in curve_scales:
            if scale not in runs:
                work = out / f"scale-{scale:g}"
                runs[scale] = measure(scale, args.seed, out, work, ["local"])
                # The point's whole run (per table and layer, where the peak was) next to its lakes.
                (work / "results.json").write_text(json.dumps(runs[scale], indent=2) + "\n")
        results["curve"] = [curve_point(runs[scale]) for scale in sorted({*curve_scales, args.scale})]
        results["targets"] += [
            {
                "target": f"peak RSS <= 3 GiB at scale {point['scale']:g}",
                "measured": point["peak_rss_gib"],
                "limit": 3.0,
            }
            for point in results["curve"]
            if point["scale"] > args.scale
        ]
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report = render(results) + (f"\n{render_curve(results['curve'])}" if curve_scales else "")
    sys.stdout.write(report + f"\nresults: {out / 'results.json'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
