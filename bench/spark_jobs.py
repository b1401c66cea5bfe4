"""Which Spark jobs a `paylake run all` runs, per table and by what started them, from Spark's event log.

    python bench/spark_jobs.py [--env local-spark] [--as-of 2026-11-20] [--out build/spark-jobs]

Runs `paylake run all` on the bundled sample (an empty lake under ``--out``) with Spark's event log on, then reads
every job's start event. The runner tags each table's jobs, Delta's own included, ``paylake:<layer>.<table>``, so
each job is put down to its table and to what started it: a paylake action (the source line), one of Delta's own
steps around a read or a commit, or Spark listing landing files.
Writes ``<out>/results.json`` and prints the breakdown. Job counts do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TAG = re.compile(r"(?:^|,)paylake:((?:bronze|silver|gold)\.\w+)(?:,|$)")  # paylake:<layer>.<table>
PAYLAKE_LINE = re.compile(r"at \S*?/paylake/(\S+?\.py):(\d+)")
# Delta's own steps, by the description it gives its jobs or by its command in the stage's call stack.
DELTA_STEPS = {
    "Compute snapshot for version": "Delta: table state after a commit or on first read",
    "Filtering files for query": "Delta: files of a scan (data skipping)",
}
DELTA_COMMANDS = ("MergeIntoCommand", "WriteIntoDelta", "CreateDeltaTableCommand", "DescribeDeltaHistory", "Optimize")


def job_starts(event_log: Path) -> Iterator[dict[str, Any]]:
    """The SparkListenerJobStart events of every (uncompressed) event log file under ``event_log``."""
    for path in sorted(p for p in event_log.rglob("*") if p.is_file() and not p.name.startswith(".")):
        for line in path.read_text(errors="replace").splitlines():
            if '"SparkListenerJobStart"' in line:
                yield json.loads(line)


def started_by(event: dict[str, Any]) -> str:
    """What started a job: one of Delta's steps, a paylake source line, or Spark's listing of landing files."""
    description = event.get("Properties", {}).get("spark.job.description") or ""
    for marker, step in DELTA_STEPS.items():
        if marker in description:
            return step
    if description.startswith("Listing leaf files"):
        return "Spark: listing landing files"
    stages = event.get("Stage Infos", [])
    if not stages:
        return "no stage (nothing to compute)"
    site = event.get("Properties", {}).get("callSite.short") or ""
    found = PAYLAKE_LINE.search(site)
    if found:
        return f"paylake {found.group(1)}:{found.group(2)}"
    details = "\n".join(stage.get("Details", "") for stage in stages)
    command = next((c for c in DELTA_COMMANDS if c in details), None)
    return f"Delta: {command}" if command else f"other: {site or stages[0].get('Stage Name', '?')}"


def breakdown(events: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Jobs per table (``(outside a table)`` for the run's own reads and writes) and what started them."""
    tables: dict[str, Counter[str]] = {}
    for event in events:
        found = TAG.search(event.get("Properties", {}).get("spark.job.tags") or "")
        tables.setdefault(found.group(1) if found else "(outside a table)", Counter())[started_by(event)] += 1
    return tables


def render(tables: dict[str, Counter[str]]) -> str:
    total: Counter[str] = Counter()
    for counts in tables.values():
        total.update(counts)
    lines = [f"{sum(total.values())} Spark jobs", f"{'started by':<64}{'jobs':>6}"]
    lines += [f"  {kind:<62}{count:>6}" for kind, count in total.most_common()]
    lines.append(f"{'table':<40}{'jobs':>6}{'paylake':>9}{'Delta':>7}  largest")
    for table, counts in sorted(tables.items()):
        own = sum(n for kind, n in counts.items() if kind.startswith("paylake"))
        delta = sum(n for kind, n in counts.items() if kind.startswith("Delta"))
        kind, count = counts.most_common(1)[0]
        lines.append(f"  {table:<38}{sum(counts.values()):>6}{own:>9}{delta:>7}  {kind} ({count})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local-spark", help="local (embedded) or local-spark (Spark + Delta)")
    parser.add_argument("--as-of", default="2026-11-20")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "spark-jobs")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    (out / "events").mkdir(parents=True)
    settings = {"spark.eventLog.enabled": "true", "spark.eventLog.dir": (out / "events").as_uri()}
    settings["spark.eventLog.compress"] = "false"
    submit = " ".join(f"--conf {key}={value}" for key, value in settings.items()) + " pyspark-shell"
    command = [sys.executable, "-m", "paylake.cli", "run", "all", "--env", args.env, "--as-of", args.as_of]
    run = subprocess.run(
        [*command, "--lake", str(out / "lake")],
        cwd=REPO,
        env={**os.environ, "PYSPARK_SUBMIT_ARGS": submit},
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        raise SystemExit(f"`paylake run all` exited {run.returncode}:\n{run.stderr[-3000:]}")
    tables = breakdown(list(job_starts(out / "events")))
    (out / "results.json").write_text(json.dumps({"env": args.env, "as_of": args.as_of, "tables": tables}, indent=2))
    sys.stdout.write(render(tables) + f"\nresults: {out / 'results.json'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
