"""The scores table, its scorecard, and one account's score explained: read from the daily run's stored row
with delta-rs (no Spark), so ``paylake score ACC`` answers in about a second (``--recompute`` computes the row
again from bronze, :func:`paylake.scoring.scores.score_account`).

Light on purpose: an unknown account is told so before Spark or the builders are imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paylake.config.loader import DerivedMetadata, DerivedTable, MetadataSource, tables_built_by
from paylake.contract import BUILT_AT, SCORE_DATE, STALE_INPUTS
from paylake.errors import UsageError

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from paylake.gold.scorecard import Scorecard

SCORES_BUILDER = "customer_payment_metrics"


def scores_table(gold: DerivedMetadata) -> DerivedTable:
    """The gold table built by the scoring builder.

    Raises:
        UsageError: no gold YAML uses the builder.
    """
    for spec in gold.tables.values():
        if spec.builder.name == SCORES_BUILDER:
            return spec
    raise UsageError(f"no gold table uses the {SCORES_BUILDER} builder, so there is no scorecard")


def scorecard_of(spec: DerivedTable) -> Scorecard:
    """The scorecard configured in the scores table's YAML."""
    from paylake.gold.customer_metrics import CustomerMetricsParams  # Spark's side: imported when a card is read

    assert isinstance(spec.params, CustomerMetricsParams)  # guaranteed by the builder registry
    return spec.params.scorecard


def _query(table: DeltaTable, sql: str) -> list[Any]:
    """The first column of ``sql`` over ``table`` (as ``scores``), run by delta-rs' own engine: no pyarrow (and no
    pandas) is imported, which is most of the cost of a question about one account."""
    from deltalake import QueryBuilder

    result = QueryBuilder().register("scores", table).execute(sql).read_all()
    return list(result.column(0).to_pylist())


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _score_dates(table: DeltaTable) -> list[date]:
    if SCORE_DATE in table.metadata().partition_columns:
        return sorted({date.fromisoformat(str(p[SCORE_DATE])) for p in table.partitions()})
    return sorted(
        date.fromisoformat(day) for day in _query(table, f"SELECT DISTINCT CAST({SCORE_DATE} AS VARCHAR) FROM scores")
    )


def stored_score(
    lake_root: str | Path, metadata: MetadataSource, account_id: str, as_of: date | None = None
) -> dict[str, Any]:
    """The stored row of ``account_id`` in the scores table of a local lake for ``as_of`` (default: the latest
    score date).

    Raises:
        UsageError: no scores table, no row for the date, or none for the account on it.
    """
    from deltalake import DeltaTable  # the local engines' reader; the Databricks code path imports this module too

    names = tables_built_by(metadata, "gold", SCORES_BUILDER)
    if not names:
        raise UsageError(f"no gold table uses the {SCORES_BUILDER} builder, so there are no scores")
    table = names[0]
    folder = Path(lake_root) / "gold" / table
    if not (folder / "_delta_log").is_dir():
        raise UsageError(f"gold.{table} does not exist in {lake_root} yet; run the gold layer first")
    scores = DeltaTable(str(folder))
    dates = _score_dates(scores)
    day = as_of or (dates[-1] if dates else None)
    if day is None or day not in dates:
        known = f"score dates {dates[0]} to {dates[-1]}" if dates else "no score date"
        raise UsageError(f"gold.{table} has no scores for {day}; it holds {known} (--recompute computes any date)")
    where = f"{SCORE_DATE} = DATE '{day.isoformat()}' AND account_id = {_literal(account_id)}"
    if not _query(scores, f"SELECT count(*) FROM scores WHERE {where}")[0]:
        raise UsageError(f"account {account_id!r} is not known on {day}")
    import pyarrow.compute as pc  # the row's maps and lists become Python values through pyarrow

    rows = (
        scores.to_pyarrow_dataset()
        .to_table(filter=(pc.field(SCORE_DATE) == day) & (pc.field("account_id") == account_id))
        .to_pylist()
    )
    row: dict[str, Any] = rows[0]
    return row


def explain(row: Mapping[str, Any], scorecard: Scorecard, source: str = "recomputed from bronze") -> str:
    """A printable explanation: score, tier, action, and every feature's value and points; ``source`` says where
    the row comes from (``stored`` by the daily run, or recomputed)."""
    points = dict(row["risk_points"])
    built = row.get(BUILT_AT)
    origin = f"as the daily run stored it at {built:%Y-%m-%d %H:%M} UTC" if source == "stored" and built else source
    lines = [
        f"Account {row['account_id']} ({row['account_name']}), score date {row[SCORE_DATE]} ({origin})",
        *([f"Built on stale inputs: {row['stale_inputs']}"] if row.get(STALE_INPUTS) else []),
        f"Risk score {row['risk_score']} / 100   tier {row['risk_tier']}",
        f"Action: {row['recommended_action']}",
        "Reasons:",
        *[f"  - {reason}" for reason in row["risk_reasons"]],
        "",
        f"{'feature':<34}{'value':>16}{'points':>8}{'max':>6}",
    ]
    for feature in scorecard.features:
        value = row[feature.feature]
        lines.append(
            f"{feature.feature:<34}{feature.shown(value):>16}{points[feature.feature]:>8}{feature.max_points:>6}"
        )
    earned = sum(points.values())
    lines.append(f"{'total':<34}{'':>16}{earned:>8}{scorecard.max_points:>6}")
    lines.append(f"score = round(100 x {earned} / {scorecard.max_points}) = {row['risk_score']}")
    calibration = scorecard.calibration
    if calibration is not None and row.get(calibration.column) is not None:
        lines.append(
            f"probability of paying an invoice due within {calibration.horizon_days} days late: "
            f"{row[calibration.column]:.1%} ({calibration.column} = 1 / (1 + exp(-({calibration.intercept:.4f} + "
            f"{calibration.log_odds_per_point:.5f} x {earned}))))"
        )
    return "\n".join(lines)
