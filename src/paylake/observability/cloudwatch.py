"""CloudWatch Logs (through watchtower) and CloudWatch Metrics for layer runs.

With ``cloudwatch.enabled`` in the environment YAML, every layer run gets its own log stream
``<run_id>/<layer>`` in the log group (default ``/paylake/<environment>``), with one JSON event per log record
(run id, layer, table, step, message), and each table's outcome becomes metrics under the ``PayLake``
namespace with dimensions Environment, Layer and Table. Credentials come from the secret scope
``aws-credentials`` (keys ``cloudwatch-access-key-id`` and ``cloudwatch-secret-access-key``) or, when absent,
from boto3's default chain; they are handed to boto3 only and never logged. CloudWatch is an observer: if it
cannot be reached, the run goes on with local logs after one warning.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any, Protocol

from paylake.config.environment import CloudWatchConfig
from paylake.observability.logging import JsonFormatter
from paylake.records import TableResult

logger = logging.getLogger(__name__)

SECRET_SCOPE = "aws-credentials"
ACCESS_KEY_ID = "cloudwatch-access-key-id"
SECRET_ACCESS_KEY = "cloudwatch-secret-access-key"  # noqa: S105 - a key name, not a secret


class Secrets(Protocol):
    """Where secrets come from: Databricks secret scopes, or environment variables locally."""

    def get(self, scope: str, key: str) -> str | None:
        """The secret's value, or None when it is not set."""
        ...


class RunContextFilter(logging.Filter):
    """Stamps every record with the run id, layer and environment, so each CloudWatch event names its run."""

    def __init__(self, run_id: str, layer: str, environment: str) -> None:
        super().__init__()
        self.fields = {"run_id": run_id, "layer": layer, "environment": environment}

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self.fields.items():
            setattr(record, key, getattr(record, key, value))
        return True


def table_metrics(results: Sequence[TableResult], as_of: date) -> list[tuple[str, str, float, str]]:
    """``(table, metric, value, unit)`` for every table of a layer run; bronze tables add their freshness: days
    from the newest extract received to ``as_of`` (``DaysBehind``) and hours since their newest landing file
    changed (``HoursSinceNewestFile``)."""
    data = []
    for r in results:
        if r.newest_extract is not None:
            data.append((r.table, "DaysBehind", float((as_of - r.newest_extract).days), "Count"))
        if r.hours_since_newest_file is not None:
            data.append((r.table, "HoursSinceNewestFile", r.hours_since_newest_file, "Count"))
        rate = 100.0 * (r.rows_read - r.rows_rejected) / r.rows_read if r.rows_read else 100.0
        data += [
            (r.table, "RowsRead", float(r.rows_read), "Count"),
            (r.table, "RowsLoaded", float(r.rows_loaded), "Count"),
            (r.table, "RowsRejected", float(r.rows_rejected), "Count"),
            (r.table, "DQPassRate", round(rate, 4), "Percent"),
            (r.table, "DurationSeconds", round(r.seconds, 3), "Seconds"),
            (r.table, "TableFailed", 0.0 if r.status == "SUCCESS" else 1.0, "Count"),
        ]
    return data


class CloudWatch:
    """Ships one environment's run logs and metrics to CloudWatch; does nothing when disabled."""

    def __init__(self, config: CloudWatchConfig, environment: str, secrets: Secrets) -> None:
        self.config = config
        self.environment = environment
        self.secrets = secrets
        self._warned = False

    @property
    def log_group(self) -> str:
        """The log group: configured, or ``/paylake/<environment>``."""
        return self.config.log_group or f"/paylake/{self.environment}"

    def _client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        key_id, secret = (
            self.secrets.get(SECRET_SCOPE, ACCESS_KEY_ID),
            self.secrets.get(SECRET_SCOPE, SECRET_ACCESS_KEY),
        )
        credentials = {"aws_access_key_id": key_id, "aws_secret_access_key": secret} if key_id and secret else {}
        config = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})
        return boto3.client(service, region_name=self.config.region, config=config, **credentials)

    def _warn_once(self, what: str, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            logger.warning("CloudWatch %s failed (%s: %s); going on with local logs", what, type(exc).__name__, exc)

    @contextmanager
    def layer_run(self, run_id: str, layer: str) -> Iterator[None]:
        """Send paylake's log records to the stream ``<run_id>/<layer>`` while the block runs."""
        handler = self._log_handler(run_id, layer) if self.config.enabled else None
        package = logging.getLogger("paylake")
        if handler is not None:
            package.addHandler(handler)
        try:
            yield
        finally:
            if handler is not None:
                package.removeHandler(handler)
                with warnings.catch_warnings(record=True) as caught:
                    handler.close()  # flushes the queue
                if caught:
                    self._warn_once("log delivery", RuntimeError(str(caught[0].message)))

    def _log_handler(self, run_id: str, layer: str) -> logging.Handler | None:
        import watchtower

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", watchtower.WatchtowerWarning)
                handler = watchtower.CloudWatchLogHandler(
                    log_group_name=self.log_group,
                    log_stream_name=f"{run_id}/{layer}",
                    boto3_client=self._client("logs"),
                    send_interval=5,
                )
        except Exception as exc:  # unreachable, denied, misconfigured: observability must not stop the run
            self._warn_once("logging", exc)
            return None
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RunContextFilter(run_id, layer, self.environment))
        handler.setLevel(logging.INFO)
        return handler

    def publish(self, layer: str, results: Sequence[TableResult], as_of: date) -> None:
        """Put each table's metrics (see :func:`table_metrics`); one warning and no error if that fails."""
        if not self.config.enabled or not results:
            return
        data = [
            {
                "MetricName": metric,
                "Dimensions": [
                    {"Name": "Environment", "Value": self.environment},
                    {"Name": "Layer", "Value": layer},
                    {"Name": "Table", "Value": table},
                ],
                "Value": value,
                "Unit": unit,
            }
            for table, metric, value, unit in table_metrics(results, as_of)
        ]
        try:
            client = self._client("cloudwatch")
            for start in range(0, len(data), 500):  # PutMetricData takes at most 1000 values a call
                client.put_metric_data(Namespace=self.config.namespace, MetricData=data[start : start + 500])
        except Exception as exc:  # see _log_handler
            self._warn_once("metrics", exc)
