"""The suite's shared runs: the `paylake` command run in this process, and the bundled sample run through every
layer once by it (tests/conftest.py serves it as the ``sample_lake`` fixture)."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from paylake import cli
from paylake.pipeline import runner
from paylake.pipeline.runner import LayerRun

SAMPLE_AS_OF = date(2026, 11, 20)
SESSION_SETTINGS = ("spark.sql.shuffle.partitions", "spark.sql.session.timeZone")


@dataclass(frozen=True)
class Command:
    """What one `paylake` command returned and printed."""

    returncode: int
    stdout: str
    stderr: str


def paylake_in_process(repo: Path, *args: str, on_run: Callable[[LayerRun], None] | None = None) -> Command:
    """``paylake ARGS`` through its ``main`` in this process, from the repository (its default metadata and
    landing), in the suite's Spark session (the command's own session start finds it running). ``on_run`` sees
    each layer's outcome as `run` returns it. The command's logging set-up is undone afterwards, so it does not
    outlive the call."""
    out, err = io.StringIO(), io.StringIO()
    root, paylake_logger = logging.getLogger(), logging.getLogger("paylake")
    saved = root.handlers[:], root.level, paylake_logger.level
    # The command's session start applies its environment's settings to the running session (4 shuffle
    # partitions for `local`); the suite's own (2) come back afterwards.
    session = SparkSession.getActiveSession()
    settings = {key: session.conf.get(key) for key in SESSION_SETTINGS} if session is not None else {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(repo)
        if on_run is not None:
            run_layers = runner.run_layers

            def recorded(*arguments: object, **keywords: object) -> list[LayerRun]:
                outcomes = run_layers(*arguments, **keywords)  # type: ignore[arg-type]
                for outcome in outcomes:
                    on_run(outcome)
                return outcomes

            patch.setattr(runner, "run_layers", recorded)
        try:
            with redirect_stdout(out), redirect_stderr(err):
                code = cli.main(list(args))
        finally:
            root.handlers[:] = saved[0]
            root.setLevel(saved[1])
            paylake_logger.setLevel(saved[2])
            for key, value in settings.items():
                session.conf.set(key, value)  # type: ignore[union-attr]
    return Command(code, out.getvalue(), err.getvalue())


@dataclass(frozen=True)
class SampleLake:
    """The bundled sample after `paylake run all --env local --as-of 2026-11-20` on an empty lake: the lake, what
    the command printed, and each layer's outcome."""

    root: Path
    command: Command
    runs: dict[str, LayerRun]


def build_sample_lake(repo: Path, root: Path) -> SampleLake:
    runs: dict[str, LayerRun] = {}
    command = paylake_in_process(
        repo,
        *("run", "all", "--env", "local", "--as-of", SAMPLE_AS_OF.isoformat(), "--lake", str(root)),
        on_run=lambda outcome: runs.setdefault(outcome.layer, outcome),
    )
    assert command.returncode == 0, command.stderr[-3000:]
    assert list(runs) == ["bronze", "silver", "gold"] and all(run.ok for run in runs.values()), runs
    return SampleLake(root, command, runs)


# Audit values that differ between any two runs by design; pipeline_runs is the audit log of every attempt.
AUDIT = {
    "_batch_id",
    "_ingested_at",
    "_quarantined_at",
    "_built_at",
    "ingested_at",
    "recorded_at",
    "run_id",
    "batch_id",
}
SKIP_TABLES = {"ops/pipeline_runs"}


def lake_contents(lake: Path) -> dict[str, list[str]]:
    """Every table's rows without audit columns, sorted, so duplicates and losses both show."""
    contents = {}
    for layer in ("bronze", "silver", "gold", "ops"):
        for path in sorted((lake / layer).iterdir() if (lake / layer).exists() else []):
            name = f"{layer}/{path.name}"
            if name in SKIP_TABLES:
                continue
            data = DeltaTable(str(path)).to_pyarrow_table()
            columns = [c for c in data.column_names if c not in AUDIT]
            contents[name] = sorted(repr(sorted(row.items())) for row in data.select(columns).to_pylist())
    return contents
