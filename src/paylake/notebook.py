"""The Databricks side of the runtime: notebook widgets in, a run out.

Notebooks call :func:`define_widgets` and one ``run_*`` function, nothing else, so a notebook holds no logic and the
CLI and the notebooks run the same code. On Databricks, Spark comes from the runtime, secrets from
``dbutils.secrets`` and tables are Unity Catalog tables written with native Delta (the environment's
``engine: databricks``); the CLI side builds the same :class:`PaylakeContext` from arguments instead.

**One business date per job run.** A job passes ``as_of`` (empty unless MWAA or a person sets it) and
``run_started`` (``{{job.start_time.iso_datetime}}``, the start of the job run in UTC) to every task. An empty
``as_of`` means the day before the run started, in the environment's time zone: the feeds of a day land
overnight, which is also the date MWAA passes (``{{ ds }}`` of a daily 06:00 schedule). Every task and every
retry of one run sees the same start, so bronze, silver and gold always agree, even across midnight.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from pyspark.sql import SparkSession

from paylake.contract import PIPELINE_LAYERS
from paylake.deploy.setup import SetupResult, set_up
from paylake.errors import UsageError
from paylake.pipeline.runner import LayerRun, run_layers
from paylake.runtime.context import PaylakeContext
from paylake.runtime.secrets import DbutilsSecrets

_WHERE = {"metadata_path": "metadata", "environment": "dev", "landing_path": "", "lake_path": ""}
_WHEN = {"as_of": "", "run_started": ""}
# Notebook -> widget -> default. Empty landing_path/lake_path mean the environment's.
WIDGETS: dict[str, dict[str, str]] = {
    "layer": {**_WHERE, **_WHEN, "table_list": "all"},
    "setup": {**_WHERE, "job_principal": ""},
    "maintenance": {**_WHERE, **_WHEN, "compact": "true", "vacuum": "true"},
    "backtest": {**_WHERE, "start": "", "end": "", "horizon_days": "60", "step_days": "7", "challenger": "false"},
    "table_versions": {**_WHERE, "table": "", "to_version": "", "limit": "20"},
}


@dataclass(frozen=True)
class Widgets:
    """The widget values of one notebook run, by name."""

    kind: str
    values: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    def integer(self, name: str) -> int:
        try:
            return int(self.values[name])
        except ValueError:
            raise UsageError(f"widget {name}: {self.values[name]!r} is not a whole number") from None

    def day(self, name: str) -> date:
        try:
            return date.fromisoformat(self.values[name])
        except ValueError:
            raise UsageError(f"widget {name}: {self.values[name]!r} is not a date in YYYY-MM-DD form") from None

    def flag(self, name: str) -> bool:
        value = self.values[name].lower()
        if value not in ("true", "false"):
            raise UsageError(f"widget {name}: {self.values[name]!r} is neither true nor false")
        return value == "true"


def define_widgets(dbutils: Any, kind: str = "layer") -> None:
    """Create the widgets of a ``kind`` of notebook with their defaults (job parameters override them)."""
    for name, default in WIDGETS[kind].items():
        dbutils.widgets.text(name, default)


def read_widgets(dbutils: Any, kind: str = "layer") -> Widgets:
    """Read every widget of a ``kind`` of notebook."""
    return Widgets(kind, {name: str(dbutils.widgets.get(name)).strip() for name in WIDGETS[kind]})


def business_date(as_of: str, run_started: str, timezone_name: str) -> date:
    """The run's business date: ``as_of`` if given, else the day before ``run_started`` (an ISO date-time, UTC
    unless it says otherwise) in ``timezone_name``.

    Raises:
        UsageError: a malformed value, or neither value (outside a job, give ``as_of``).
    """
    if as_of:
        try:
            return date.fromisoformat(as_of)
        except ValueError:
            raise UsageError(f"widget as_of: {as_of!r} is not a date in YYYY-MM-DD form") from None
    if not run_started:
        raise UsageError(
            "widget as_of is empty and no run_started was passed: outside a job run, set as_of (YYYY-MM-DD)"
        )
    try:
        started = datetime.fromisoformat(run_started.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"widget run_started: {run_started!r} is not an ISO date-time") from None
    if started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    return started.astimezone(ZoneInfo(timezone_name)).date() - timedelta(days=1)


def _context(widgets: Widgets, dbutils: Any, spark: SparkSession) -> PaylakeContext:
    return PaylakeContext.create(
        widgets["environment"],
        widgets["metadata_path"],
        widgets["landing_path"] or None,
        widgets["lake_path"] or None,
        spark=spark,
        secrets=DbutilsSecrets(dbutils),
    )


def run_layer(layer: str, dbutils: Any, spark: SparkSession) -> LayerRun:
    """Run one layer with the notebook's widgets, the runtime's Spark session and its secret scopes (the daily
    job runs one task per layer; the job stops at the first failed task as ``paylake run all`` stops at the first
    failed layer).

    Raises:
        UsageError: an unknown layer or a bad widget value.
        InvalidConfigError: the metadata is invalid.
    """
    if layer not in PIPELINE_LAYERS:
        raise UsageError(f"unknown layer {layer!r}; available: {', '.join(PIPELINE_LAYERS)}")
    widgets = read_widgets(dbutils)
    context = _context(widgets, dbutils, spark)
    as_of = business_date(widgets["as_of"], widgets["run_started"], context.environment.timezone)
    (outcome,) = run_layers(context, [layer], widgets["table_list"], as_of)
    return outcome


def run_setup(dbutils: Any, spark: SparkSession) -> SetupResult:
    """The Unity Catalog set-up (:func:`paylake.deploy.setup.set_up`)."""
    widgets = read_widgets(dbutils, "setup")
    return set_up(_context(widgets, dbutils, spark), widgets["job_principal"] or None)


def run_maintenance(dbutils: Any, spark: SparkSession) -> str:
    """Archive SCD2 versions past retention, compact and vacuum (``paylake maintain``); returns the report."""
    from paylake.pipeline.maintain import maintain, render_maintenance

    widgets = read_widgets(dbutils, "maintenance")
    context = _context(widgets, dbutils, spark)
    as_of = business_date(widgets["as_of"], widgets["run_started"], context.environment.timezone)
    return render_maintenance(maintain(context, as_of, vacuum=widgets.flag("vacuum"), compact=widgets.flag("compact")))


def run_backtest(dbutils: Any, spark: SparkSession) -> str:
    """Backtest the risk score (``paylake backtest``); returns the report."""
    from paylake.scoring.backtest import render_report
    from paylake.scoring.backtest import run_backtest as backtest

    widgets = read_widgets(dbutils, "backtest")
    context = _context(widgets, dbutils, spark)
    report = backtest(
        context,
        widgets.day("start"),
        widgets.day("end"),
        widgets.integer("horizon_days"),
        widgets.integer("step_days"),
        uuid.uuid4().hex[:12],
        widgets.flag("challenger"),
    )
    return render_report(report)


def run_table_versions(dbutils: Any, spark: SparkSession) -> str:
    """A table's versions (``paylake history``), or with ``to_version`` its restore (``paylake rollback``)."""
    from paylake.lake.versions import render_versions, rollback, rollback_report, table_ref, versions

    widgets = read_widgets(dbutils, "table_versions")
    context = _context(widgets, dbutils, spark)
    ref = table_ref(widgets["table"])
    if widgets["to_version"]:
        version = widgets.integer("to_version")
        return rollback_report(ref, version, rollback(context.store, ref, version))
    return render_versions(versions(context.store, ref, widgets.integer("limit")))
