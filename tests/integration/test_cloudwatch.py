"""CloudWatch Logs and Metrics against a real moto server: events and metrics are read back and checked, secrets
never appear, and an unreachable CloudWatch costs one warning, not the run."""

from __future__ import annotations

import json
import logging
import shutil
import socket
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from paylake.datagen.generator import GeneratorConfig, write_landing
from paylake.pipeline.runner import run_bronze
from paylake.runtime.context import PaylakeContext
from paylake.runtime.secrets import EnvSecrets, env_name

from .conftest import MotoServer

END = date(2026, 3, 10)
CONFIG = GeneratorConfig(accounts=40, skus=6, days=2, end=END, seed=3, history_days=15, dirty_rate=0.005)
KEY_ID, SECRET = "AKIAPAYLAKETESTKEY01", "s3cr3t/paylake+Never-Log-This"
SECRETS = EnvSecrets(
    {
        env_name("aws-credentials", "cloudwatch-access-key-id"): KEY_ID,
        env_name("aws-credentials", "cloudwatch-secret-access-key"): SECRET,
    }
)


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("landing")
    write_landing(CONFIG, root)
    return root


@pytest.fixture
def metadata(repo: Path, tmp_path: Path) -> Path:
    """The bundled metadata with CloudWatch enabled for the local environment."""
    target = tmp_path / "metadata"
    shutil.copytree(repo / "metadata", target)
    env = target / "environments" / "local.yaml"
    text = env.read_text()
    assert "cloudwatch:\n  enabled: false\n  log_group: /paylake/local" in text
    enabled = text.replace("enabled: false\n  log_group: /paylake/local", "enabled: true\n  log_group: /paylake/it")
    env.write_text(enabled)
    return target


def test_logs_and_metrics_reach_cloudwatch_without_secrets(
    spark: SparkSession,
    moto_server: MotoServer,
    metadata: Path,
    landing: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx = PaylakeContext.create("local", metadata, landing, tmp_path / "lake", spark=spark, secrets=SECRETS)
    with caplog.at_level(logging.DEBUG, logger="paylake"):
        outcome = run_bronze(ctx, "all", END, run_id="cwrun0001")
    assert outcome.ok, outcome.summary()

    logs = moto_server.client("logs")
    streams = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName="/paylake/it")["logStreams"]]
    assert streams == ["cwrun0001/bronze"]
    raw = [e["message"] for e in logs.get_log_events(logGroupName="/paylake/it", logStreamName=streams[0])["events"]]
    events = [json.loads(m) for m in raw]
    assert events and all(e["run_id"] == "cwrun0001" and e["layer"] == "bronze" for e in events)
    assert all(e["environment"] == "local" and e["level"] in {"INFO", "WARNING", "ERROR"} for e in events)
    steps = {(e.get("table"), e.get("step")) for e in events}
    for table in ["accounts", "skus", "invoices", "invoice_line_items"]:
        assert {(table, "start"), (table, "success")} <= steps, table

    metrics = moto_server.client("cloudwatch")
    listed = metrics.list_metrics(Namespace="PayLake")["Metrics"]
    names = {m["MetricName"] for m in listed}
    assert names == {
        *("RowsRead", "RowsLoaded", "RowsRejected", "DQPassRate", "DurationSeconds", "TableFailed"),
        *("DaysBehind", "HoursSinceNewestFile"),  # bronze freshness
    }
    invoices = next(r for r in outcome.results if r.table == "invoices")
    dimensions = [
        {"Name": "Environment", "Value": "local"},
        {"Name": "Layer", "Value": "bronze"},
        {"Name": "Table", "Value": "invoices"},
    ]
    data = metrics.get_metric_data(
        MetricDataQueries=[
            {
                "Id": f"m{i}",
                "MetricStat": {
                    "Metric": {"Namespace": "PayLake", "MetricName": name, "Dimensions": dimensions},
                    "Period": 60,
                    "Stat": "Maximum",
                },
            }
            for i, name in enumerate(["RowsRead", "RowsRejected", "DQPassRate", "DaysBehind"])
        ],
        StartTime=datetime.now(timezone.utc) - timedelta(hours=1),  # metrics carry the wall-clock time
        EndTime=datetime.now(timezone.utc) + timedelta(hours=1),
    )["MetricDataResults"]
    values = {r["Id"]: r["Values"][0] for r in data}
    assert values["m0"] == invoices.rows_read and values["m1"] == invoices.rows_rejected
    assert values["m2"] == pytest.approx(100.0 * invoices.rows_loaded / invoices.rows_read, abs=1e-3)
    assert values["m3"] == 0.0 and invoices.newest_extract == END  # the feed is current as of the run

    # The credentials went to boto3 only: no log line, no CloudWatch event, no audit row carries them.
    audit = DeltaTable(str(tmp_path / "lake" / "ops" / "pipeline_runs")).to_pyarrow_table().to_pylist()
    for text in [caplog.text, "\n".join(raw), json.dumps(audit, default=str)]:
        assert KEY_ID not in text and SECRET not in text


def test_an_unreachable_cloudwatch_costs_one_warning_not_the_run(
    spark: SparkSession,
    moto_server: MotoServer,
    metadata: Path,
    landing: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", closed)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", closed)
    ctx = PaylakeContext.create("local", metadata, landing, tmp_path / "lake", spark=spark, secrets=SECRETS)
    with caplog.at_level(logging.INFO, logger="paylake"):
        outcome = run_bronze(ctx, "all", END)
    assert outcome.ok, outcome.summary()
    warnings = [r for r in caplog.records if "CloudWatch" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "going on with local logs" in warnings[0].getMessage()
    assert SECRET not in caplog.text and KEY_ID not in caplog.text
    assert DeltaTable(str(tmp_path / "lake" / "bronze" / "invoices")).to_pyarrow_table().num_rows > 0


def test_the_bundled_alarm_definition_creates_an_alarm_on_a_published_metric(
    moto_server: MotoServer, repo: Path
) -> None:
    definition = json.loads((repo / "resources" / "cloudwatch" / "dq-pass-rate-alarm.json").read_text())
    client = moto_server.client("cloudwatch")
    client.put_metric_alarm(**definition)
    (alarm,) = client.describe_alarms(AlarmNames=[definition["AlarmName"]])["MetricAlarms"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"]) == ("PayLake", "DQPassRate", 95.0)
    assert {d["Name"] for d in alarm["Dimensions"]} == {"Environment", "Layer", "Table"}
