"""The ``paylake`` command line: parses arguments (:mod:`paylake.cli_parser`), builds the context, holds the lake
lock for commands that write, and prints what the library returns; the work itself is the library's.

Exit codes: 0 success, 1 a table or check failed, 2 bad usage or bad metadata, 3 the lake is in use by another run.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from paylake.cli_parser import build_parser
from paylake.errors import InvalidConfigError, LakeLockedError, PaylakeError, UsageError, storage_full

if TYPE_CHECKING:
    from paylake.runtime.context import PaylakeContext

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 3


def _context(args: argparse.Namespace, local: bool = True) -> PaylakeContext:
    """The run's context from the command's arguments; ``local`` commands refuse a Databricks environment."""
    from paylake.runtime.context import PaylakeContext

    context = PaylakeContext.create(args.env, args.metadata, args.landing, args.lake)
    if local and context.environment.engine == "databricks":
        _ = context.spark  # raises, saying where this command runs on Databricks
    return context


def _validate(args: argparse.Namespace) -> int:
    from paylake.config.loader import open_source, validate_metadata

    try:
        issues = validate_metadata(open_source(args.metadata))
    except InvalidConfigError as exc:
        issues = exc.issues
    if args.format == "json":
        sys.stdout.write(json.dumps([issue.__dict__ for issue in issues], indent=2) + "\n")
    else:
        for issue in issues:
            sys.stdout.write(f"{issue}\n")
        if not issues:
            sys.stdout.write(f"{args.metadata}: all metadata valid\n")
    return EXIT_USAGE if issues else EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from paylake.contract import PIPELINE_LAYERS
    from paylake.lake.lock import LockOwner, lake_lock
    from paylake.pipeline.runner import LayerRun, new_run_id, run_layers
    from paylake.reporting.progress import Progress

    context = _context(args)
    context.progress = Progress(sys.stderr)
    layers = list(PIPELINE_LAYERS) if args.layer == "all" else [args.layer]
    if len(layers) > 1 and args.tables != "all":
        raise UsageError("--tables selects tables of one layer; name the layer instead of 'all'")
    _ = context.bronze  # fail on bad metadata before Spark starts
    for layer in layers:
        if layer != "bronze":
            context.derived(layer)
    run_id = new_run_id()  # one run id for every layer of this command

    def report(outcome: LayerRun) -> None:
        sys.stdout.write(outcome.summary() + "\n")

    with lake_lock(context.lake_root, LockOwner.current(run_id, f"paylake run {args.layer}")):
        _ = context.spark  # start it now, so no table's time includes the start-up
        outcomes = run_layers(context, layers, args.tables, args.as_of, run_id, report)
    ok = all(outcome.ok for outcome in outcomes) and len(outcomes) == len(layers)
    if ok and "gold" in layers:
        from paylake.scoring.scores import top_accounts

        sys.stdout.write(top_accounts(context, args.as_of) + "\n")
    sys.stdout.write(f"Lake: {context.lake_root} (environment {context.environment.name})\n")
    return EXIT_OK if ok else EXIT_FAILED


def _score(args: argparse.Namespace) -> int:
    from paylake.config.loader import load_derived, load_environment, open_source
    from paylake.scoring.stored import explain, scorecard_of, scores_table, stored_score

    source = open_source(args.metadata)
    environment = load_environment(source, args.env)
    lake = environment.lake(args.lake)
    if args.recompute or environment.engine == "databricks" or "://" in lake:  # stored rows: a local lake's
        from paylake.scoring.scores import latest_data_date, score_account

        context = _context(args)
        row = score_account(context, args.account_id, args.as_of or latest_data_date(context.store))
        origin = "recomputed from bronze"
    else:  # read before anything heavy is imported: an unknown account is told at once
        row, origin = stored_score(lake, source, args.account_id, args.as_of), "stored"
    sys.stdout.write(explain(row, scorecard_of(scores_table(load_derived(source, "gold"))), origin) + "\n")
    return EXIT_OK


def _backtest(args: argparse.Namespace) -> int:
    from paylake.lake.lock import LockOwner, lake_lock
    from paylake.scoring.backtest import render_report, run_backtest

    context = _context(args)
    run_id = uuid.uuid4().hex[:12]
    with lake_lock(context.lake_root, LockOwner.current(run_id, "paylake backtest")):
        report = run_backtest(context, args.start, args.end, args.horizon_days, args.step_days, run_id, args.challenger)
    sys.stdout.write(render_report(report) + "\n")
    return EXIT_OK


def _changes(args: argparse.Namespace) -> int:
    from paylake.scoring.changes import changes

    sys.stdout.write(changes(_context(args), args.as_of, args.since) + "\n")
    return EXIT_OK


def _train(args: argparse.Namespace) -> int:
    from paylake.scoring.train import render_training, train, write_card

    context = _context(args)
    fitted = train(context, args.start, args.end, args.horizon_days, args.step_days, args.note)
    written = write_card(context, fitted, args.out)
    sys.stdout.write(render_training(fitted.card, written) + "\n")
    return EXIT_OK


def _history(args: argparse.Namespace) -> int:
    from paylake.lake.versions import render_versions, table_ref, versions

    context = _context(args)
    ref = table_ref(args.table)
    sys.stdout.write(render_versions(versions(context.store, ref, args.limit)) + "\n")
    return EXIT_OK


def _rollback(args: argparse.Namespace) -> int:
    from paylake.lake.lock import LockOwner, lake_lock
    from paylake.lake.versions import rollback, rollback_report, table_ref

    context = _context(args)
    ref = table_ref(args.table)
    with lake_lock(context.lake_root, LockOwner.current(uuid.uuid4().hex[:12], f"paylake rollback {ref}")):
        latest = rollback(context.store, ref, args.version)
    sys.stdout.write(rollback_report(ref, args.version, latest) + "\n")
    return EXIT_OK


def _file_state(args: argparse.Namespace) -> int:
    from paylake.bronze.file_log import set_file_state
    from paylake.lake.lock import LockOwner, lake_lock

    context = _context(args)
    table = args.table.removeprefix("bronze.")
    if table not in context.bronze.tables:
        raise UsageError(f"no bronze table {table!r}; tables: {', '.join(sorted(context.bronze.tables))}")
    action: Literal["skipped", "replay"] = "skipped" if args.command == "skip" else "replay"
    owner = LockOwner.current(uuid.uuid4().hex[:12], f"paylake {args.command} {' '.join(args.files)}")
    then = "is set aside: it will not load" if action == "skipped" else "loads again with the next run of its table"
    with lake_lock(context.lake_root, owner):
        for name in args.files:  # one file log entry each, in order; a refused file stops the rest
            config = context.bronze.tables[table]
            entry = set_file_state(context.store, config, context.landing, name, action, args.reason)
            sys.stdout.write(f"bronze.{table}: {entry.file_name} {then} (reason: {entry.note})\n")
    return EXIT_OK


def _maintain(args: argparse.Namespace) -> int:
    from paylake.lake.lock import LockOwner, lake_lock
    from paylake.pipeline.maintain import maintain, render_maintenance

    context = _context(args)
    with lake_lock(context.lake_root, LockOwner.current(uuid.uuid4().hex[:12], "paylake maintain")):
        results = maintain(context, args.as_of, vacuum=not args.no_vacuum, compact=not args.no_compact)
    sys.stdout.write(render_maintenance(results) + "\n")
    return EXIT_OK


def _lake_root(args: argparse.Namespace) -> str:
    return _context(args).lake_root


def _sql(args: argparse.Namespace) -> int:
    from paylake.analytics.lake_sql import render, run_query

    if bool(args.query) == bool(args.file):
        raise UsageError("give the SQL either as an argument or with -f FILE")
    source, text = ("query", args.query) if args.query else (args.file, _read_sql(args.file))
    sys.stdout.write(render(run_query(_lake_root(args), text, source), args.format) + "\n")
    return EXIT_OK


def _read_sql(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None


def _dashboard(args: argparse.Namespace) -> int:
    from paylake.analytics.dashboard import write_dashboard

    path = write_dashboard(_lake_root(args), args.out, args.score_date)
    sys.stdout.write(f"Dashboard: {path} (open it in a browser; it needs no network)\n")
    if args.screenshot:
        from paylake.analytics.browser import screenshot

        sys.stdout.write(f"Screenshot: {screenshot(path, Path(args.screenshot))}\n")
    return EXIT_OK


def _runs(args: argparse.Namespace) -> int:
    from paylake.analytics.lake_sql import render
    from paylake.analytics.reports import file_decisions, recent_runs

    lake = _lake_root(args)
    sys.stdout.write(render(recent_runs(lake, args.limit)) + "\n")
    decisions = file_decisions(lake, args.limit)
    if decisions is not None:
        sys.stdout.write("\nFiles set aside or replayed (ops.ingested_files):\n" + render(decisions) + "\n")
    return EXIT_OK


def _quarantine(args: argparse.Namespace) -> int:
    from paylake.analytics.reports import quarantine_summary

    sys.stdout.write(quarantine_summary(_lake_root(args), args.table, args.examples) + "\n")
    return EXIT_OK


def _uc_sql(args: argparse.Namespace) -> int:
    from paylake.deploy.unity_catalog import lake_schemas, render, uc_statements
    from paylake.runtime.spark import local_spark

    context = _context(args, local=False)
    settings = context.environment.databricks
    if settings is None:
        raise UsageError(f"environment {context.environment.name!r} has no databricks: section (catalog, schemas)")
    layers = [context.derived("silver"), context.derived("gold")]
    # Only the builders' output schemas are needed (no data is read), so a local session serves every environment.
    spark = context.spark_session or local_spark(context.environment.spark, context.environment.timezone)
    schemas, partitions = lake_schemas(spark, context.bronze, layers)
    statements = uc_statements(settings, context.bronze, schemas, partitions, args.job_principal)
    if not (args.job_principal or settings.job_principal):
        sys.stderr.write(
            "paylake: no job principal (--job-principal or databricks.job_principal): the script grants nothing to "
            "the job's run-as identity; the job's setup task grants to the identity it runs as\n"
        )
    sys.stdout.write(render(statements, context.environment.name))
    return EXIT_OK


def _generate(args: argparse.Namespace) -> int:
    from paylake.datagen.generator import GeneratorConfig, write_landing

    config = GeneratorConfig(
        accounts=args.accounts,
        skus=args.skus,
        days=args.days,
        end=args.end,
        seed=args.seed,
        history_days=args.history_days,
    )
    written = write_landing(config, Path(args.out))
    sys.stdout.write(f"wrote {written.files} files ({written.rows} rows, {written.bytes / 1e6:.1f} MB) to {args.out}\n")
    return EXIT_OK


COMMANDS = {
    "run": _run,
    "validate": _validate,
    "history": _history,
    "rollback": _rollback,
    "score": _score,
    "backtest": _backtest,
    "train": _train,
    "changes": _changes,
    "maintain": _maintain,
    "sql": _sql,
    "dashboard": _dashboard,
    "runs": _runs,
    "skip": _file_state,
    "replay": _file_state,
    "quarantine": _quarantine,
    "uc-sql": _uc_sql,
    "generate": _generate,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``paylake`` command."""
    args = build_parser().parse_args(argv)
    from paylake.observability.logging import configure_logging

    configure_logging(verbose=args.verbose)
    try:
        return COMMANDS[args.command](args)
    except (InvalidConfigError, UsageError) as exc:
        sys.stderr.write(f"paylake: {exc}\n")
        return EXIT_USAGE
    except LakeLockedError as exc:
        sys.stderr.write(f"paylake: {exc}\n")
        return EXIT_BUSY
    except PaylakeError as exc:
        if args.verbose:
            raise
        sys.stderr.write(f"paylake: {exc}\n")
        return EXIT_FAILED
    except Exception as exc:
        full = storage_full(exc, f"paylake {args.command}")
        if full is None or args.verbose:
            raise
        sys.stderr.write(f"paylake: {full}\n")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
