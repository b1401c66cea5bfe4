"""The local Spark + Delta engine's setup: jars that pair with the pinned Spark, a clear message without them,
and environments that say which engine and SCD2 writer they use."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path

import pyspark
import pytest
from pydantic import ValidationError
from pyspark.sql import SparkSession

from paylake.config.environment import EnvironmentConfig
from paylake.errors import UsageError
from paylake.runtime import spark as runtime_spark

POM = "{http://maven.apache.org/POM/4.0.0}"


def test_the_jars_pom_pins_the_installed_delta_spark_for_the_pinned_spark(repo: Path) -> None:
    pom = ET.parse(repo / "jars" / "pom.xml").getroot()
    pinned = pom.findtext(f"{POM}properties/{POM}delta.version")
    artifacts = [d.findtext(f"{POM}artifactId") for d in pom.iter(f"{POM}dependency")]
    spark_line = ".".join(pyspark.__version__.split(".")[:2])
    assert pinned == version("delta-spark")
    assert artifacts == [f"delta-spark_{spark_line}_2.13", "delta-storage"]


def test_the_test_session_runs_delta_from_the_fetched_jars(spark: SparkSession) -> None:
    jars = spark.conf.get("spark.jars") or ""
    assert re.search(rf"delta-spark_4\.0_2\.13-{re.escape(version('delta-spark'))}\.jar", jars)
    assert spark.conf.get("spark.sql.catalog.spark_catalog") == "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def test_missing_jars_say_how_to_fetch_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runtime_spark.DELTA_JARS_ENV, str(tmp_path))
    with pytest.raises(UsageError, match=r"needs the Delta Lake jars, found none at .*run 'make jars'"):
        runtime_spark.delta_jars()
    monkeypatch.setenv(runtime_spark.DELTA_JARS_ENV, f"{tmp_path}/missing.jar")
    with pytest.raises(UsageError, match="missing.jar"):
        runtime_spark.delta_jars()
    (tmp_path / "delta.jar").write_bytes(b"")
    monkeypatch.setenv(runtime_spark.DELTA_JARS_ENV, str(tmp_path))
    assert runtime_spark.delta_jars() == [str(tmp_path / "delta.jar")]


def environment(**settings: object) -> EnvironmentConfig:
    return EnvironmentConfig.model_validate({"name": "e", "landing_root": "l", "lake_root": "k", **settings})


def test_each_engine_has_its_scd2_writer_and_catalog() -> None:
    assert environment().scd2_engine == "duckdb"
    assert environment(scd2="spark").scd2_engine == "spark"
    local_spark = environment(name="local-spark", engine="spark-delta")
    assert local_spark.scd2_engine == "spark" and local_spark.catalog_names.catalog == "spark_catalog"
    assert local_spark.catalog_names.schemas["bronze"] == "bronze"
    with pytest.raises(ValidationError, match="scd2: duckdb reads delta-rs tables and runs with engine local only"):
        environment(engine="spark-delta", scd2="duckdb")
    with pytest.raises(ValidationError, match="engine spark-delta keeps its tables in 'spark_catalog'"):
        environment(engine="spark-delta", databricks={"catalog": "paylake_dev"})
    with pytest.raises(ValidationError, match="lake_root: engine databricks keeps its tables in Unity Catalog"):
        environment(engine="databricks", databricks={"catalog": "paylake_dev"})
    with pytest.raises(ValidationError, match="databricks: engine databricks needs the catalog and schemas"):
        environment(engine="databricks", lake_root=None)
    with pytest.raises(ValidationError, match="lake_root: engine spark-delta needs a folder for its tables"):
        environment(engine="spark-delta", lake_root=None)
    with pytest.raises(ValidationError, match="analyst_schema: 'gold' is already the schema of a layer"):
        environment(engine="databricks", lake_root=None, databricks={"catalog": "c", "analyst_schema": "gold"})
