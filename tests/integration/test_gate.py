"""The one gated write every layer goes through, on both stores: counts, quarantine, metrics, pass rate, refusal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import pytest
from pydantic import TypeAdapter
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from paylake.config.quality import Rule
from paylake.contract import DQ_METRICS, FLAGS, TableRef
from paylake.errors import BuildError, DataQualityError
from paylake.frames import rows_frame
from paylake.lake.store import TableStore
from paylake.quality.checks import checks_for
from paylake.quality.gate import Gate, GateCounts, gated_write
from paylake.records import RunInfo

RULES = [
    TypeAdapter(Rule).validate_python(rule)
    for rule in (
        {"type": "range", "column": "amount", "min": 0},
        {"type": "not_null", "column": "currency", "action": "flag"},
    )
]
RUN = RunInfo("run1", date(2026, 1, 5), datetime(2026, 1, 6, 1, 0))
TABLE = TableRef("bronze", "payments")


def batch(spark: SparkSession) -> DataFrame:
    """Two files: f1 has one rejected row of four and one flagged row, f2 one clean row."""
    return rows_frame(
        spark,
        [
            ("a", 10.0, "USD", "f1", 1),
            ("b", -5.0, "USD", "f1", 2),
            ("c", 3.0, None, "f1", 3),
            ("d", 4.0, "EUR", "f1", 4),
            ("e", 1.0, "USD", "f2", 1),
        ],
        "id string, amount double, currency string, _source_file string, _source_row int",
    ).withColumns({"_extract_date": F.lit(date(2026, 1, 5)), "_batch_id": F.lit("b1")})


def gate(min_pass_rate: float = 0.7, **more: object) -> Gate:
    return Gate(
        table=TABLE,
        checks=checks_for(RULES),
        min_pass_rate=min_pass_rate,
        batch_id="b1",
        run=RUN,
        at=datetime(2026, 1, 6, 1, 0),
        quarantine_columns=["id", "amount", "currency"],
        files={"f1": "landing/f1.csv", "f2": "landing/f2.csv"},
        held_back="batch held back",
        **more,  # type: ignore[arg-type]
    )


@pytest.fixture
def store(store_kind: str, make_store: Callable[[str, Path], TableStore], tmp_path: Path) -> TableStore:
    return make_store(store_kind, tmp_path)


def test_a_passing_batch_is_counted_quarantined_and_measured_once(spark: SparkSession, store: TableStore) -> None:
    with gated_write(store, batch(spark), gate()) as gated:
        accepted = sorted(row.id for row in gated.accepted.collect())
        assert FLAGS in gated.accepted.columns and "_dq_rejects" not in gated.accepted.columns
    assert accepted == ["a", "c", "d", "e"]
    assert gated.counts.per_file == {"f1": (4, 1), "f2": (1, 0)} and gated.counts.flagged == 1
    counts = gated.counts.table_counts(files=2)
    assert (counts.rows_read, counts.rows_loaded, counts.rows_rejected, counts.rows_flagged) == (5, 4, 1, 1)
    assert counts.failures_by_rule == {"range_amount": 1, "not_null_currency": 1}
    quarantine = store.read(TABLE.quarantine).collect()
    assert [(r.id, r._dq_rules, r._source_file, r._source_row) for r in quarantine] == [
        ("b", ["range_amount"], "f1", 2)
    ]
    assert quarantine[0]._dq_reason == "range_amount: amount=-5.0 outside [0.0, ]"
    metrics = {r.rule: (r.rows_checked, r.rows_failed) for r in store.read(DQ_METRICS).collect()}
    assert metrics == {"range_amount": (5, 1), "not_null_currency": (5, 1)}


def test_a_file_under_its_pass_rate_holds_the_batch_back_and_the_error_carries_the_counts(
    spark: SparkSession, store: TableStore
) -> None:
    wrote = []
    with pytest.raises(DataQualityError) as raised, gated_write(store, batch(spark), gate(0.8)):
        wrote.append("target")  # never reached: f1 passes 75%
    assert wrote == []
    assert str(raised.value).startswith("Data quality check failed: 75% pass rate (threshold 80%) in landing/f1.csv")
    assert "batch held back, rejected rows are in bronze.payments_quarantine" in str(raised.value)
    counts = raised.value.counts
    assert counts is not None and (counts.rows_read, counts.rows_loaded, counts.rows_rejected) == (5, 0, 1)
    assert counts.rows_held_back == 4
    assert store.read(TABLE.quarantine).count() == 1  # still written, so an operator sees why


def test_a_refusal_writes_nothing_and_an_error_in_the_block_keeps_the_counts(
    spark: SparkSession, store: TableStore
) -> None:
    def refuse(checked: DataFrame, counts: GateCounts) -> None:
        if counts.extra["big"]:
            raise BuildError(f"{counts.extra['big']} row(s) too big")

    with (
        pytest.raises(BuildError, match="1 row") as refused,
        gated_write(store, batch(spark), gate(extra={"big": F.col("amount") >= 10}, refuse=refuse)),
    ):
        pass
    assert not store.exists(TABLE.quarantine) and not store.exists(DQ_METRICS)
    counts = refused.value.counts  # nothing reached the quarantine: every row is held back, none rejected
    assert counts is not None and (counts.rows_loaded, counts.rows_rejected, counts.rows_held_back) == (0, 0, 5)

    with pytest.raises(BuildError) as raised, gated_write(store, batch(spark), gate()):
        raise BuildError("the target write failed")
    assert raised.value.counts is not None and raised.value.counts.rows_read == 5


def test_a_derived_output_is_gated_as_a_whole(spark: SparkSession, store: TableStore) -> None:
    output = batch(spark).drop("_source_file", "_source_row", "_extract_date", "_batch_id")
    derived = Gate(
        table=TableRef("silver", "payments"),
        checks=checks_for(RULES),
        min_pass_rate=0.9,
        batch_id="silver.payments@2026-01-05",
        run=RUN,
        at=datetime(2026, 1, 6, 1, 0),
        quarantine_columns=output.columns,
    )
    with pytest.raises(DataQualityError, match=r"80% pass rate \(threshold 90%\) in silver.payments; table left"):
        with gated_write(store, output, derived):
            pass
    quarantine = store.read(TableRef("silver", "payments_quarantine"))
    assert quarantine.columns == ["id", "amount", "currency", "_dq_rules", "_dq_reason", "_quarantined_at"]
