"""Freshness judged from the newest extract delivered, and files waiting for related feeds (pure functions)."""

from __future__ import annotations

from datetime import date

import pytest

from paylake.bronze.discovery import LandingFile
from paylake.bronze.freshness import lag, refuse_stale, stale_input, wait_for_related
from paylake.config.bronze import BronzeTableConfig
from paylake.errors import StaleInputError
from paylake.io.objects import LocalObjects

AS_OF = date(2026, 11, 21)


def feed(table: str, on_stale: str = "fail", max_lag_days: int = 0, expected: str = "daily") -> BronzeTableConfig:
    return BronzeTableConfig.model_validate(
        {
            "table": table,
            "load_type": "incremental",
            "primary_key": ["id"],
            "sequence_column": "updated_at",
            "columns": [{"name": "id", "type": "string"}, {"name": "updated_at", "type": "timestamp"}],
            "scd": {"compare_columns": ["id"]},
            "freshness": {"expected": expected, "max_lag_days": max_lag_days, "on_stale": on_stale},
        }
    )


def test_a_feed_is_stale_when_its_newest_extract_lags_more_than_allowed() -> None:
    assert lag(feed("invoices"), AS_OF, AS_OF) is None
    assert lag(feed("invoices", max_lag_days=1), AS_OF, date(2026, 11, 20)) is None
    assert lag(feed("invoices", expected="any"), AS_OF, None) is None
    stale = lag(feed("invoices"), AS_OF, date(2026, 11, 19))
    assert stale is not None and stale.message == (
        "bronze/invoices: stale input: no file for extract date 2026-11-21 (freshness: daily, max_lag_days 0); "
        "the newest received is of 2026-11-19, 2 day(s) before as of 2026-11-21"
    )
    never = lag(feed("invoices"), AS_OF, None)
    assert never is not None and never.message.endswith("no file was ever received")


def test_a_warned_feed_returns_its_warning_with_the_waiting_files_and_a_failing_one_raises() -> None:
    waiting = ["lines_20261121.csv waits for invoices of 2026-11-21"]
    assert stale_input(feed("lines"), AS_OF, AS_OF) is None
    assert stale_input(feed("lines", max_lag_days=1), AS_OF, date(2026, 11, 20), waiting) == waiting[0]
    warned = stale_input(feed("lines", "warn"), AS_OF, date(2026, 11, 20), waiting)
    assert warned is not None and warned.startswith("bronze/lines: stale input") and warned.endswith(waiting[0])
    with pytest.raises(StaleInputError, match="waits for invoices of 2026-11-21. Nothing of it was loaded"):
        stale_input(feed("lines"), AS_OF, date(2026, 11, 20), waiting)


def test_a_file_waits_until_every_related_feed_delivered_its_extract_date() -> None:
    objects = LocalObjects("/landing")
    files = [
        (LandingFile(f"/landing/lines_{day:%Y%m%d}.csv", f"lines_{day:%Y%m%d}.csv", day, 10, objects), "sha")
        for day in (date(2026, 11, 20), AS_OF)
    ]
    ready, waiting = wait_for_related(files, {"invoices": date(2026, 11, 20), "skus": AS_OF})
    assert [f.extract_date for f, _ in ready] == [date(2026, 11, 20)]
    assert waiting == ["lines_20261121.csv waits for invoices of 2026-11-21"]
    ready, waiting = wait_for_related(files, {"invoices": None})
    assert not ready and len(waiting) == 2
    assert wait_for_related(files, {}) == (files, [])


def test_a_derived_table_refuses_a_failing_stale_feed_it_reads_and_names_the_warned_ones() -> None:
    feeds = {
        "skus": lag(feed("skus", "warn"), AS_OF, date(2026, 11, 20)),
        "accounts": lag(feed("accounts"), AS_OF, date(2026, 11, 20)),
    }
    known = {name: stale for name, stale in feeds.items() if stale is not None}
    assert refuse_stale("silver.product_catalog", known, ["skus"]) == ["skus"]
    assert refuse_stale("silver.invoice_details", known, ["invoices"]) == []
    with pytest.raises(StaleInputError, match=r"^silver.account_profiles: not built on stale inputs \(bronze/accounts"):
        refuse_stale("silver.account_profiles", known, ["accounts", "skus"])
