"""The Databricks side of the runtime: notebook widgets in, a layer run out.

Orchestrator notebooks call :func:`define_widgets` and :func:`run_layer`, nothing else, so a notebook holds no
logic and the CLI and the notebooks run the same code. On Databricks, Spark comes from the runtime, secrets from
``dbutils.secrets`` and tables are Unity Catalog tables written with native Delta (the environment's
``engine: databricks``); the CLI side builds the same :class:`PaylakeContext` from arguments instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pyspark.sql import SparkSession

from paylake.errors import UsageError
from paylake.orchestration.runner import LAYERS, LayerRun
from paylake.runtime.context import PaylakeContext
from paylake.runtime.secrets import DbutilsSecrets

# Widget -> default. Empty landing_path/lake_path mean the environment's; an empty as_of means today in the
# environment's time zone (the only place paylake reads the clock for a business date).
WIDGETS = {
    "metadata_path": "metadata",
    "table_list": "all",
    "environment": "dev",
    "as_of": "",
    "landing_path": "",
    "lake_path": "",
}


@dataclass(frozen=True)
class NotebookArgs:
    """The widget values of one notebook run."""

    metadata_path: str
    table_list: str
    environment: str
    as_of: str
    landing_path: str
    lake_path: str


def define_widgets(dbutils: Any) -> None:
    """Create the orchestrator widgets with their defaults (job parameters override them)."""
    for name, default in WIDGETS.items():
        dbutils.widgets.text(name, default)


def notebook_args(dbutils: Any) -> NotebookArgs:
    """Read every widget."""
    return NotebookArgs(**{name: str(dbutils.widgets.get(name)).strip() for name in WIDGETS})


def business_date(text: str, timezone: str) -> date:
    """The ``as_of`` widget as a date; empty means today in ``timezone``.

    Raises:
        UsageError: not a YYYY-MM-DD date.
    """
    if not text:
        return datetime.now(ZoneInfo(timezone)).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"widget as_of: {text!r} is not a date in YYYY-MM-DD form") from None


def run_layer(layer: str, dbutils: Any, spark: SparkSession) -> LayerRun:
    """Run one layer with the notebook's widgets, the runtime's Spark session and its secret scopes.

    Raises:
        UsageError: an unknown layer or a bad widget value.
        InvalidConfigError: the metadata is invalid.
    """
    if layer not in LAYERS:
        raise UsageError(f"unknown layer {layer!r}; available: {', '.join(LAYERS)}")
    args = notebook_args(dbutils)
    context = PaylakeContext.create(
        args.environment,
        args.metadata_path,
        args.landing_path or None,
        args.lake_path or None,
        spark=spark,
        secrets=DbutilsSecrets(dbutils),
    )
    as_of = business_date(args.as_of, context.environment.timezone)
    return LAYERS[layer](context, args.table_list, as_of, None)
