"""The ``paylake`` command line: every command's arguments (:mod:`paylake.cli` runs them)."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None


def _paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="local", help="environment in metadata/environments (default: local)")
    parser.add_argument("--metadata", default="metadata", help="metadata root folder (default: metadata)")
    parser.add_argument("--landing", help="landing root (overrides the environment)")
    parser.add_argument("--lake", help="lake root (overrides the environment)")


def _score_dates(command: argparse.ArgumentParser) -> None:
    """The past score dates a backtest or a fit evaluates, and the outcome window after each."""
    command.add_argument("--from", type=_date, required=True, dest="start", help="first score date")
    command.add_argument("--to", type=_date, required=True, dest="end", help="last score date")
    command.add_argument("--horizon-days", type=int, default=60, help="outcome window after each date (60)")
    command.add_argument("--step-days", type=int, default=7, help="days between score dates (7)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(prog="paylake", description="Metadata-driven medallion pipelines for payments.")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging and full tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a layer (or all layers) for a business date")
    run.add_argument(
        "layer", choices=["bronze", "silver", "gold", "all"], help="layer to run (all: bronze, silver, gold)"
    )
    run.add_argument("--as-of", type=_date, required=True, help="business date YYYY-MM-DD")
    run.add_argument("--tables", default="all", help="'all' or a comma list of tables")
    _paths(run)

    validate = commands.add_parser("validate", help="check every metadata YAML; exit 2 listing each problem")
    validate.add_argument("metadata", nargs="?", default="metadata", help="metadata root (default: metadata)")
    validate.add_argument("--format", choices=["text", "json"], default="text")

    history = commands.add_parser("history", help="list a table's versions (Delta commits), newest first")
    history.add_argument("table", help="<layer>.<table>, e.g. bronze.invoices")
    history.add_argument("--limit", type=int, default=20)
    _paths(history)

    rollback = commands.add_parser("rollback", help="restore a table to an earlier version (a new commit)")
    rollback.add_argument("table", help="<layer>.<table>, e.g. bronze.invoices")
    rollback.add_argument("--to-version", type=int, required=True, dest="version")
    _paths(rollback)

    for name, what in (("skip", "set a landing file aside so its table moves on"), ("replay", "load a file again")):
        state = commands.add_parser(name, help=f"{what}, with a reason kept in ops.ingested_files")
        state.add_argument("table", help="the file's bronze table, e.g. invoices")
        state.add_argument("files", nargs="+", metavar="FILE", help="landing file name(s), e.g. invoices_20261121.csv")
        state.add_argument("--reason", required=True, help="why; kept in the file log")
        _paths(state)

    score = commands.add_parser("score", help="score one account on demand and explain every point")
    score.add_argument("account_id", help="e.g. ACC-000015")
    score.add_argument("--as-of", type=_date, help="score date (default: the latest stored one)")
    score.add_argument(
        "--recompute", action="store_true", help="compute the score from bronze (Spark) instead of reading gold"
    )
    _paths(score)

    backtest = commands.add_parser("backtest", help="backtest the risk score on past dates against what happened")
    _score_dates(backtest)
    backtest.add_argument(
        "--challenger", action="store_true", help="also fit a logistic regression and compare out of time"
    )
    _paths(backtest)

    changed = commands.add_parser("changes", help="tier changes and new accounts between two stored score dates")
    changed.add_argument("--as-of", type=_date, help="score date (default: the latest stored)")
    changed.add_argument("--since", type=_date, help="compare with this score date (default: the one before)")
    _paths(changed)

    train = commands.add_parser("train", help="fit the risk scorecard on past dates, out of time, and write it")
    _score_dates(train)
    train.add_argument("--note", help="what the card is fitted on, kept in its training summary")
    train.add_argument(
        "--out", type=Path, help="where to write the scores table's YAML (default: in place, in local metadata)"
    )
    _paths(train)

    maintain = commands.add_parser(
        "maintain", help="archive SCD2 versions past retention, compact small files, vacuum old files"
    )
    maintain.add_argument("--as-of", type=_date, required=True, help="maintenance date YYYY-MM-DD")
    maintain.add_argument("--no-compact", action="store_true", help="leave small files as they are")
    maintain.add_argument("--no-vacuum", action="store_true", help="keep every data file (time travel stays whole)")
    _paths(maintain)
    sql = commands.add_parser("sql", help="run SQL on the local lakehouse (DuckDB; tables as <layer>.<table>)")
    sql.add_argument("query", nargs="?", help="the SQL text (or use -f)")
    sql.add_argument("-f", "--file", help="read the SQL from this file")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    _paths(sql)

    dashboard = commands.add_parser("dashboard", help="write the payment-health dashboard as one HTML file")
    dashboard.add_argument("--out", default="build/dashboard.html", help="output file (build/dashboard.html)")
    dashboard.add_argument("--score-date", type=_date, help="score date to show (default: the latest)")
    dashboard.add_argument("--screenshot", help="also write a PNG of the page rendered by headless Chromium")
    _paths(dashboard)

    runs = commands.add_parser(
        "runs", help="recent runs (status, duration, rows, rejects) and files set aside or replayed"
    )
    runs.add_argument("--limit", type=int, default=20)
    _paths(runs)

    quarantine = commands.add_parser("quarantine", help="a table's rejected rows grouped by rule, with examples")
    quarantine.add_argument("table", help="<layer>.<table> (bronze when no layer is given), e.g. invoices")
    quarantine.add_argument("--examples", type=int, default=3, help="example rows per rule (3)")
    _paths(quarantine)

    uc_sql = commands.add_parser(
        "uc-sql", help="print the Unity Catalog set-up: catalog, schemas, tables, analyst views masking PII, grants"
    )
    uc_sql.add_argument(
        "--job-principal",
        help="the job's run-as identity to grant (default: databricks.job_principal)",
    )
    _paths(uc_sql)

    generate = commands.add_parser("generate", help="write seeded synthetic landing feeds")
    generate.add_argument("--accounts", type=int, default=2000)
    generate.add_argument("--skus", type=int, default=300)
    generate.add_argument("--days", type=int, default=120, help="extract days, one file per feed each (120)")
    generate.add_argument(
        "--history-days",
        type=int,
        default=120,
        help="days simulated before the first extract, which carries them (120); a year's windows need 365+",
    )
    generate.add_argument(
        "--end", type=_date, default=date(2026, 11, 20), help="last extract date (default 2026-11-20)"
    )
    generate.add_argument("--seed", type=int, default=7)
    generate.add_argument("--out", default="landing", help="landing root to write into")
    return parser
