"""Metadata and landing files on S3 (a real moto server on loopback): bronze runs end to end from s3:// paths and
gives the same tables as a run from local folders; throttling and stalls from a fault-injecting layer in front of
the server are retried, then end in a clear error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from faulty_s3 import FOREVER, Faults, faulty_endpoint
from paylake.cli import main
from paylake.config.loader import load_bronze, open_source
from paylake.datagen.generator import GeneratorConfig, write_landing
from paylake.errors import InvalidConfigError, StorageError
from paylake.io.objects import S3Objects, s3_client
from paylake.pipeline.runner import run_bronze
from paylake.runtime.context import PaylakeContext

from .conftest import MotoServer

END = date(2026, 3, 10)
CONFIG = GeneratorConfig(accounts=60, skus=8, days=3, end=END, seed=5, history_days=20, dirty_rate=0.02)
TABLES = ["accounts", "skus", "invoices", "invoice_line_items"]
AUDIT = {"_batch_id", "_ingested_at"}


@pytest.fixture(scope="module")
def bucket(moto_server: MotoServer, repo: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    landing = tmp_path_factory.mktemp("landing")
    write_landing(CONFIG, landing)
    moto_server.client("s3").create_bucket(Bucket="paylake-it")
    moto_server.upload(repo / "metadata", "paylake-it", "config/metadata")
    moto_server.upload(landing, "paylake-it", "landing")
    return "paylake-it"


def table_rows(lake: Path, table: str) -> list[tuple[object, ...]]:
    data = DeltaTable(str(lake / "bronze" / table)).to_pyarrow_table()
    columns = [c for c in data.column_names if c not in AUDIT]
    return sorted((tuple(r.values()) for r in data.select(columns).to_pylist()), key=repr)


def test_bronze_from_s3_metadata_and_landing_equals_a_local_run(
    spark: SparkSession, repo: Path, bucket: str, tmp_path: Path
) -> None:
    remote = PaylakeContext.create(
        "local", f"s3://{bucket}/config/metadata", f"s3://{bucket}/landing", tmp_path / "s3-lake", spark=spark
    )
    outcome = run_bronze(remote, "all", END)
    assert outcome.ok, outcome.summary()
    assert all(r.files == CONFIG.days and r.rows_read == r.rows_loaded + r.rows_rejected for r in outcome.results)

    local_landing = tmp_path / "landing"
    write_landing(CONFIG, local_landing)
    local = PaylakeContext.create("local", repo / "metadata", local_landing, tmp_path / "local-lake", spark=spark)
    assert run_bronze(local, "all", END).ok
    for table in TABLES:
        assert table_rows(tmp_path / "s3-lake", table) == table_rows(tmp_path / "local-lake", table), table
    logged = DeltaTable(str(tmp_path / "s3-lake" / "ops" / "ingested_files")).to_pyarrow_table().to_pylist()
    assert {r["file_path"].split("/landing/")[0] for r in logged} == {f"s3://{bucket}"}

    again = run_bronze(remote, "all", END)  # exactly-once holds for S3 files too
    assert again.ok and all(r.files == 0 for r in again.results)


def test_metadata_loads_from_s3_and_validates_from_the_cli(bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    source = open_source(f"s3://{bucket}/config/metadata")
    assert sorted(load_bronze(source).tables) == sorted(TABLES)
    assert source.display("bronze/skus/skus.yaml") == f"s3://{bucket}/config/metadata/bronze/skus/skus.yaml"
    assert main(["validate", f"s3://{bucket}/config/metadata"]) == 0
    assert "all metadata valid" in capsys.readouterr().out


def test_listing_follows_pagination_past_a_thousand_objects(moto_server: MotoServer) -> None:
    s3 = moto_server.client("s3")
    s3.create_bucket(Bucket="paylake-many")
    for index in range(1005):
        s3.put_object(Bucket="paylake-many", Key=f"landing/skus/skus_{index:05d}.csv", Body=b"x")
    s3.put_object(Bucket="paylake-many", Key="landing/skus/archive/skus_old.csv", Body=b"x")
    objects = S3Objects("s3://paylake-many/landing")
    listed = objects.list("skus")
    assert len(listed) == 1005 and listed[0].name == "skus_00000.csv" and listed[-1].name == "skus_01004.csv"
    assert len(objects.list("skus", recursive=True)) == 1006


def test_s3_errors_name_the_bucket_or_the_root(moto_server: MotoServer, bucket: str) -> None:
    with pytest.raises(StorageError, match="bucket 'paylake-missing' does not exist"):
        S3Objects("s3://paylake-missing/landing").list("invoices")
    with pytest.raises(InvalidConfigError, match=rf"s3://{bucket}/nothing-here: <root>: no metadata found"):
        open_source(f"s3://{bucket}/nothing-here")
    with pytest.raises(StorageError, match="no such object"):
        S3Objects(f"s3://{bucket}/landing").read_bytes(f"s3://{bucket}/landing/missing.csv")


@pytest.fixture
def through(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Faults], str]]:
    """Route the shipped S3 client through a fault-injecting layer in front of the moto server."""
    with ExitStack() as stack:

        def route(faults: Faults) -> str:
            endpoint = stack.enter_context(faulty_endpoint(moto_server.endpoint, faults))
            monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
            s3_client.cache_clear()
            return endpoint

        yield route
    s3_client.cache_clear()


def test_throttling_and_stalls_are_retried_and_the_files_arrive_whole(
    bucket: str, through: Callable[[Faults], str], tmp_path: Path
) -> None:
    """Every request is first throttled (503 SlowDown), then stalled past the read timeout, then served: the
    shipped retry policy gets every file as it is."""
    landing = f"s3://{bucket}/landing"
    direct = S3Objects(landing)
    expected = direct.list("invoices")
    wanted = expected[0]
    faults = Faults(throttle=1, stall=1, stall_s=1.5)
    through(faults)
    flaky = S3Objects(landing, client=s3_client(read_timeout=0.5))
    assert flaky.list("invoices") == expected
    assert flaky.sha256(wanted.path) == direct.sha256(wanted.path)
    copy = Path(flaky.local_copy(wanted.path, tmp_path))
    assert copy.read_bytes() == direct.read_bytes(wanted.path)
    assert faults.throttled >= 3 and faults.stalled >= 3 and faults.forwarded >= 3


def test_s3_that_keeps_throttling_or_stalling_gives_a_clear_error_after_its_retries(
    bucket: str, through: Callable[[Faults], str]
) -> None:
    landing = f"s3://{bucket}/landing"
    throttled = Faults(throttle=FOREVER)
    through(throttled)
    objects = S3Objects(landing, client=s3_client(retries=2))
    with pytest.raises(StorageError) as error:
        objects.list("invoices")
    assert str(error.value) == (
        f"s3://{bucket}/landing/invoices/: S3 answered SlowDown (throttled or unavailable) to 3 attempts with "
        "backoff; nothing was loaded from it, run again later"
    )
    assert throttled.throttled == 3 and throttled.forwarded == 0

    stalled = Faults(stall=FOREVER, stall_s=2.0)
    through(stalled)
    objects = S3Objects(landing, client=s3_client(retries=1, read_timeout=0.5))
    with pytest.raises(StorageError, match=r"landing/invoices/: no answer from S3 after 2 attempts \(Read timeout"):
        objects.list("invoices")
    assert stalled.stalled == 2
