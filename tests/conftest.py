"""Shared fixtures: one local SparkSession for the whole test run, and the repository's paths."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from pyspark.sql import SparkSession

from paylake.config.environment import SparkConfig
from paylake.runtime.spark import local_spark

REPO = Path(__file__).resolve().parents[1]

# CI replays the same examples on every run (a red CI must be reproducible); developers' runs keep exploring
# new random examples, and every failure they find is pinned with @example.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = local_spark(SparkConfig(master="local[2]", shuffle_partitions=2, driver_memory="2g"), "UTC")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
