"""paylake fuzz run: many generated messy rows through bronze, every row accounted for.

    python bench/fuzz.py [--rows 100000] [--days 10] [--seed 3] [--out build/fuzz]

A lake holding a small seeded sample gets ``--days`` daily line-item files (``--rows`` rows in all), each of whose
values is valid or, at the file's own rate (0.2% to 5% of values), hostile text: delimiters, quotes, line
breaks, a byte-order mark, control characters, non-Latin scripts, emoji. Bronze loads one day at a time, as the
daily run does. For every file: rows read = rows written, and loaded + rejected + held back = read; the table holds
exactly the loaded rows, the quarantine exactly the rejected ones; a held-back file loads nothing, is not logged,
and is then set aside (`paylake skip`), as an operator would, so the next day loads. Writes
``<out>/results.json``; exits 1 on any accounting difference. `make fuzz` runs it (not `make test`, whose
hypothesis test draws a few hundred rows per run under the same accounting).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from paylake.bronze.file_log import set_file_state
from paylake.config.environment import SparkConfig
from paylake.datagen.generator import GeneratorConfig, write_landing
from paylake.pipeline.runner import run_bronze
from paylake.runtime.context import PaylakeContext
from paylake.runtime.spark import local_spark

REPO = Path(__file__).resolve().parents[1]
END = date(2026, 3, 10)
TABLE = "invoice_line_items"
HEADER = ["line_item_id", "invoice_id", "sku_id", "quantity", "unit_price", "discount_pct", "line_amount", "updated_at"]
VALID = ["INV-00000001", "SKU-00001", "3", "12.50", "0.00", "37.50", "2026-03-11 09:00:00"]
HOSTILE = [",", '"', "\n", "\r\n", ";", "\ufeff", "\t", "\x00", "\x1b", "NaN", "-1", "1e309", "Ω", "名", "🙂", " ", ""]
RATES = (0.002, 0.005, 0.01, 0.05)  # share of hostile values, by file in turn: three load, the fourth is held back


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def hostile(chance: random.Random) -> str:
    return "".join(chance.choice(HOSTILE) + chance.choice("abcXYZ019.-:") for _ in range(chance.randint(1, 4)))


def messy_rows(chance: random.Random, day: date, count: int, rate: float) -> list[list[str]]:
    """``count`` rows with unique keys; each value valid or, with probability ``rate``, hostile."""
    rows = []
    for index in range(count):
        values = [hostile(chance) if chance.random() < rate else valid for valid in VALID]
        key = f"FZ{day:%Y%m%d}-{index:06d}" + (hostile(chance) if chance.random() < rate else "")
        rows.append([key, *values])
    return rows


def metadata_copy(root: Path, days: int) -> Path:
    """The bundled metadata, with the other feeds allowed to lag the fuzzed days and lines not waiting for their
    invoices' day (only line items arrive on those days)."""
    copy = root / "metadata"
    shutil.copytree(REPO / "metadata", copy)
    for path in (copy / "bronze").rglob("*.yaml"):
        text = path.read_text().replace("max_lag_days: 0", f"max_lag_days: {days + 1}")
        path.write_text(text.replace("complete_with: [invoices]", "complete_with: []"))
    return copy


def rows_by_file(lake: Path, table: str) -> dict[str, int]:
    path = lake / "bronze" / table
    if not (path / "_delta_log").is_dir():
        return {}
    counts: dict[str, int] = {}
    for name in DeltaTable(str(path)).to_pyarrow_table(columns=["_source_file"]).column(0).to_pylist():
        counts[name] = counts.get(name, 0) + 1
    return counts


def logged(lake: Path) -> set[str]:
    data = DeltaTable(str(lake / "ops" / "ingested_files")).to_pyarrow_table(columns=["file_name", "action"])
    return {row["file_name"] for row in data.to_pylist() if row["action"] == "ingested"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "fuzz")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    landing, lake = out / "landing", out / "lake"
    write_landing(GeneratorConfig(accounts=30, skus=5, days=2, end=END, seed=5, history_days=10), landing)
    spark = local_spark(SparkConfig(master="local[2]", shuffle_partitions=2), "UTC")
    context = PaylakeContext.create("local", metadata_copy(out, args.days), landing, lake, spark=spark)
    if not run_bronze(context, "all", END).ok:
        raise SystemExit("fuzz: the base sample did not load")

    chance = random.Random(args.seed)
    per_day = args.rows // args.days
    files: list[dict[str, Any]] = []
    problems: list[str] = []
    started = time.perf_counter()
    for offset in range(args.days):
        day, rate = END + timedelta(days=offset + 1), RATES[offset % len(RATES)]
        rows = messy_rows(chance, day, per_day + (args.rows % args.days if offset == 0 else 0), rate)
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([HEADER, *rows])
        name = f"{TABLE}_{day:%Y%m%d}.csv"
        (landing / TABLE / name).write_text(buffer.getvalue(), encoding="utf-8", newline="")
        (result,) = run_bronze(context, TABLE, day).results
        in_table = rows_by_file(lake, TABLE).get(name, 0)
        quarantined = rows_by_file(lake, f"{TABLE}_quarantine").get(name, 0)
        entry = {
            "file": name,
            "hostile_value_rate": rate,
            "written": len(rows),
            "status": result.status,
            "read": result.rows_read,
            "loaded": result.rows_loaded,
            "rejected": result.rows_rejected,
            "held_back": result.rows_held_back,
            "in_table": in_table,
            "in_quarantine": quarantined,
            "logged": name in logged(lake),
        }
        files.append(entry)
        if result.status != "SUCCESS":
            set_file_state(context.store, context.bronze.tables[TABLE], context.landing, name, "skipped", "fuzz")
        checks = {
            "read = written": result.rows_read == len(rows),
            "loaded + rejected + held back = read": result.rows_loaded + result.rows_rejected + result.rows_held_back
            == result.rows_read,
            "table holds the loaded rows": in_table == result.rows_loaded,
            "quarantine holds the rejected rows": quarantined == result.rows_rejected,
            "logged only when loaded": entry["logged"] == (result.status == "SUCCESS"),
        }
        problems += [f"{name}: {check} fails: {entry}" for check, ok in checks.items() if not ok]
        say(
            f"{name}: {result.status:<8} {len(rows):>7,} written, {result.rows_loaded:>7,} loaded, "
            f"{result.rows_rejected:>7,} rejected, {result.rows_held_back:>7,} held back (hostile values {rate:.1%})"
        )
    totals = {key: sum(int(f[key]) for f in files) for key in ("written", "read", "loaded", "rejected", "held_back")}
    results = {"seed": args.seed, "seconds": time.perf_counter() - started, "totals": totals, "files": files}
    results["problems"] = problems
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    say(
        f"fuzz: {totals['written']:,} rows written, {totals['read']:,} read = {totals['loaded']:,} loaded + "
        f"{totals['rejected']:,} rejected + {totals['held_back']:,} held back; {len(problems)} accounting "
        f"difference(s) in {results['seconds']:.0f} s; {out / 'results.json'}"
    )
    for problem in problems:
        say(f"  {problem}")
    spark.stop()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
