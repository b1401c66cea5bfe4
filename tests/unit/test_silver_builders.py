"""Silver builders on tiny hand-made bronze histories: point-in-time joins, payment facts, change features."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from paylake.frames import rows_frame
from paylake.silver.account_profiles import AccountProfilesParams, account_profiles
from paylake.silver.invoice_details import InvoiceDetailsParams, invoice_details, line_summary, payment_facts
from paylake.silver.payment_history import PaymentHistoryParams, account_payment_history
from paylake.silver.product_catalog import ProductCatalogParams, product_catalog

VERSIONED = "effective_from timestamp, effective_to timestamp, record_version int"


def ts(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def d(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def equal(actual: DataFrame, expected: DataFrame) -> None:
    assert_df_equality(
        actual.select(expected.columns),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
        ignore_column_order=False,
    )


def invoice_history(spark: SparkSession, *rows: tuple[object, ...]) -> DataFrame:
    """(invoice_id, account_id, invoice_date, due_date, amount, status, paid_date, paid_amount, from, to, version)"""
    data = [
        (i, a, d(idate), d(due), "USD", Decimal(amt), st, d(paid), Decimal(pamt), False, ts(f), ts(f), ts(t), v)
        for i, a, idate, due, amt, st, paid, pamt, f, t, v in rows  # type: ignore[misc]
    ]
    return rows_frame(
        spark,
        data,
        "invoice_id string, account_id string, invoice_date date, due_date date, currency string, "
        "invoice_amount decimal(18,2), status string, paid_date date, paid_amount decimal(18,2), is_disputed boolean, "
        f"updated_at timestamp, {VERSIONED}",
    )


def account_history(spark: SparkSession, *rows: tuple[object, ...]) -> DataFrame:
    """(account_id, credit_limit, terms, status, created, from, to, version); segment SMB, region NA."""
    data = [
        (a, "Acme", "Retail", "SMB", "US", "NA", Decimal(lim), terms, st, True, d(cr), ts(f), ts(t), v)
        for a, lim, terms, st, cr, f, t, v in rows  # type: ignore[misc]
    ]
    return rows_frame(
        spark,
        data,
        "account_id string, account_name string, industry string, segment string, country_code string, "
        "region string, credit_limit decimal(18,2), payment_terms_days int, account_status string, "
        f"paperless_billing boolean, created_date date, {VERSIONED}",
    )


def test_invoice_details_takes_account_terms_valid_on_each_invoice_date_and_sums_lines(spark: SparkSession) -> None:
    # Terms drop from 30 to 15 days at 09:00 on 2026-02-15: an invoice that day already sees the new terms
    # (state at the end of its day); one before the account's first version takes that first version.
    accounts = account_history(
        spark,
        ("ACC-1", "10000", 30, "ACTIVE", "2025-01-01", "2026-01-01 10:00:00", "2026-02-15 09:00:00", 1),
        ("ACC-1", "5000", 15, "ACTIVE", "2025-01-01", "2026-02-15 09:00:00", None, 2),
    )
    invoices = invoice_history(
        spark,
        ("INV-1", "ACC-1", "2026-02-10", "2026-03-12", "210", "OPEN", None, "0", "2026-02-10 12:00:00", None, 1),
        ("INV-2", "ACC-1", "2026-02-15", "2026-03-02", "100", "OPEN", None, "0", "2026-02-15 12:00:00", None, 1),
        ("INV-3", "ACC-1", "2025-12-20", "2026-01-19", "50", "OPEN", None, "0", "2025-12-20 12:00:00", None, 1),
        # Paid on 2026-03-05, but that version is only known after as_of: as of 2026-03-01 it is still open.
        (
            "INV-2",
            "ACC-1",
            "2026-02-15",
            "2026-03-02",
            "100",
            "PAID",
            "2026-03-05",
            "100",
            "2026-03-05 08:00:00",
            None,
            2,
        ),
    )
    lines = rows_frame(
        spark,
        [
            ("L1", "INV-1", "SKU-H", 1, Decimal("100"), ts("2026-02-10 12:00:00"), None, 1),
            ("L2", "INV-1", "SKU-S", 2, Decimal("60"), ts("2026-02-10 12:00:00"), None, 1),
            ("L3", "INV-1", "SKU-S", 1, Decimal("50"), ts("2026-02-10 12:00:00"), None, 1),
            ("L4", "INV-2", "SKU-X", 3, Decimal("99"), ts("2026-02-15 12:00:00"), None, 1),
        ],
        f"line_item_id string, invoice_id string, sku_id string, quantity int, line_amount decimal(18,2), {VERSIONED}",
    )
    products = rows_frame(spark, [("SKU-H", "Hardware"), ("SKU-S", "Software")], "sku_id string, category string")
    out = invoice_details(invoices, lines, accounts, products, params=InvoiceDetailsParams(), as_of=date(2026, 3, 1))
    expected = rows_frame(
        spark,
        [
            ("INV-1", 30, Decimal("10000"), 1, False, 3, Decimal("210"), False, "Software", "OPEN", 0),
            ("INV-2", 15, Decimal("5000"), 2, False, 1, Decimal("99"), True, None, "OPEN", 0),
            ("INV-3", 30, Decimal("10000"), 1, True, 0, None, True, None, "OPEN", 41),
        ],
        "invoice_id string, payment_terms_days int, credit_limit decimal(18,2), account_record_version int, "
        "account_version_fallback boolean, line_count int, lines_amount decimal(18,2), lines_mismatch boolean, "
        "main_category string, status string, days_late int",
    )
    equal(out, expected)


def test_line_summary_is_totals_and_the_largest_category_by_name(spark: SparkSession) -> None:
    """The one-pass summary equals its definition: totals over the lines, and the category with the largest amount
    (a null amount last; ties by name, an unknown SKU's null category last)."""
    lines = rows_frame(
        spark,
        [
            ("i1", "s1", 1, "10.00"),  # a: 10, b: 10 (tie: a by name), unknown: 10 (null category last)
            ("i1", "s2", 2, "10.00"),
            ("i1", "zz", 1, "10.00"),
            ("i2", "zz", 3, "40.00"),  # unknown SKU the largest: the null category wins
            ("i2", "s1", 1, "5.00"),
            ("i3", "s2", None, None),  # only null amounts and quantities
            ("i4", "s2", 1, None),  # a null amount ranks after any amount, even a negative one
            ("i4", "s1", 1, "-3.00"),
            ("i5", "s3", 2, "7.50"),
            ("i5", "s3", 1, "2.50"),
        ],
        "invoice_id string, sku_id string, quantity int, line_amount string",
    ).withColumn("line_amount", F.col("line_amount").cast("decimal(18,2)"))
    products = rows_frame(spark, [("s1", "a"), ("s2", "b"), ("s3", "c")], "sku_id string, category string")

    categorised = lines.join(products, "sku_id", "left")
    by_category = categorised.groupBy("invoice_id", "category").agg(F.sum("line_amount").alias("_amount"))
    largest = Window.partitionBy("invoice_id").orderBy(F.desc("_amount"), F.asc_nulls_last("category"))
    main = by_category.withColumn("_n", F.row_number().over(largest)).where("_n = 1")
    totals = lines.groupBy("invoice_id").agg(
        F.count(F.lit(1)).cast("int").alias("line_count"),
        F.sum("quantity").cast("bigint").alias("total_quantity"),
        F.sum("line_amount").cast("decimal(18,2)").alias("lines_amount"),
    )
    definition = totals.join(main.select("invoice_id", F.col("category").alias("main_category")), "invoice_id")

    got = line_summary(lines, products)
    equal(got, definition)
    assert {r["invoice_id"]: r["main_category"] for r in got.collect()} == {
        "i1": "a",
        "i2": None,
        "i3": "b",
        "i4": "a",
        "i5": "c",
    }


def test_payment_facts_for_open_paid_early_leap_year_and_month_end_invoices(spark: SparkSession) -> None:
    rows = [
        # id, invoice date, due date, status, paid date, amount, paid amount
        ("overdue", "2028-01-15", "2028-02-14", "OPEN", None, "100", "0"),
        ("paid_early", "2028-02-01", "2028-03-02", "PAID", "2028-02-20", "200", "200"),
        ("due_feb29_paid_mar1", "2028-01-30", "2028-02-29", "PAID", "2028-03-01", "300", "300"),
        ("month_end_partial", "2027-11-30", "2027-12-31", "PARTIALLY_PAID", None, "100", "40"),
        ("not_yet_due", "2028-02-29", "2028-03-30", "OPEN", None, "10", "0"),
        ("due_today", "2028-01-31", "2028-03-01", "OPEN", None, "10", "0"),
        ("90_days", "2027-11-02", "2027-12-02", "OPEN", None, "10", "0"),
        ("91_days", "2027-11-01", "2027-12-01", "OPEN", None, "10", "0"),
    ]
    invoices = rows_frame(
        spark,
        [(i, d(a), d(b), s, d(p), Decimal(m), Decimal(q)) for i, a, b, s, p, m, q in rows],
        "invoice_id string, invoice_date date, due_date date, status string, paid_date date, "
        "invoice_amount decimal(18,2), paid_amount decimal(18,2)",
    )
    out = payment_facts(invoices, date(2028, 3, 1), InvoiceDetailsParams().aging_buckets)
    expected = rows_frame(
        spark,
        [
            ("overdue", False, True, None, 16, 16, True, True, "1-30", Decimal("100")),
            ("paid_early", True, False, 19, -11, 0, False, False, None, Decimal("0")),
            ("due_feb29_paid_mar1", True, False, 31, 1, 1, True, False, None, Decimal("0")),
            ("month_end_partial", False, True, None, 61, 61, True, True, "61-90", Decimal("60")),
            ("not_yet_due", False, True, None, -29, 0, False, False, "current", Decimal("10")),
            ("due_today", False, True, None, 0, 0, False, False, "current", Decimal("10")),
            ("90_days", False, True, None, 90, 90, True, True, "61-90", Decimal("10")),
            ("91_days", False, True, None, 91, 91, True, True, "90+", Decimal("10")),
        ],
        "invoice_id string, is_paid boolean, is_open boolean, days_to_pay int, days_past_due int, days_late int, "
        "is_late boolean, is_overdue boolean, aging_bucket string, outstanding_amount decimal(18,2)",
    )
    equal(out, expected)


def test_account_profiles_mine_changes_known_on_as_of_only(spark: SparkSession) -> None:
    accounts = account_history(
        spark,
        # Cut 40% on 05-01, terms shortened and put on hold on 05-20, released 06-10; a change on 07-05 is future.
        ("ACC-1", "10000", 30, "ACTIVE", "2025-01-01", "2025-01-10 09:00:00", "2026-05-01 09:00:00", 1),
        ("ACC-1", "6000", 30, "ACTIVE", "2025-01-01", "2026-05-01 09:00:00", "2026-05-20 09:00:00", 2),
        ("ACC-1", "6000", 15, "ON_HOLD", "2025-01-01", "2026-05-20 09:00:00", "2026-06-10 09:00:00", 3),
        ("ACC-1", "6000", 15, "ACTIVE", "2025-01-01", "2026-06-10 09:00:00", "2026-07-05 09:00:00", 4),
        ("ACC-1", "2000", 15, "ACTIVE", "2025-01-01", "2026-07-05 09:00:00", None, 5),
        # A raise and a release from hold, both before the 90-day window.
        ("ACC-2", "5000", 30, "ON_HOLD", "2025-06-01", "2025-06-01 09:00:00", "2026-01-15 09:00:00", 1),
        ("ACC-2", "8000", 30, "ACTIVE", "2025-06-01", "2026-01-15 09:00:00", None, 2),
        # Dropped from the snapshot on 03-01.
        ("ACC-3", "1000", 30, "ACTIVE", "2026-02-01", "2026-02-01 09:00:00", "2026-03-01 00:00:00", 1),
        # Known only after as_of.
        ("ACC-4", "1000", 30, "ACTIVE", "2026-07-01", "2026-07-01 09:00:00", None, 1),
    )
    out = account_profiles(accounts, params=AccountProfilesParams(recent_change_days=90), as_of=date(2026, 6, 30))
    expected = rows_frame(spark, 
        [
            ("ACC-1", Decimal("6000"), 15, "ACTIVE", False, 4, 545, 1, d("2026-05-01"), "DOWN", Decimal("-4000"),
             -40.0, True, 1, 30, True, 2, d("2026-06-10"), 20, True),
            ("ACC-2", Decimal("8000"), 30, "ACTIVE", False, 2, 394, 1, d("2026-01-15"), "UP", Decimal("3000"),
             60.0, False, 0, None, False, 1, d("2026-01-15"), 166, False),
            ("ACC-3", Decimal("1000"), 30, "ACTIVE", True, 1, 149, 0, None, None, None,
             None, False, 0, None, False, 0, None, None, False),
        ],
        "account_id string, credit_limit decimal(18,2), payment_terms_days int, account_status string, "
        "is_deleted boolean, versions int, tenure_days int, credit_limit_changes long, "
        "last_credit_limit_change_date date, last_credit_limit_change_direction string, "
        "last_credit_limit_change_amount decimal(18,2), last_credit_limit_change_pct double, "
        "credit_limit_cut_recently boolean, payment_terms_changes long, previous_payment_terms_days int, "
        "payment_terms_shortened_recently boolean, status_changes long, last_status_change_date date, "
        "days_since_status_change int, on_hold_recently boolean",
    )  # fmt: skip
    equal(out, expected)


def test_payment_history_windows_trend_balances_and_no_future_invoices(spark: SparkSession) -> None:
    rows = [
        # invoice date, due, paid, is_paid, is_overdue, days_late, days_to_pay, outstanding, disputed
        ("2026-04-01", "2026-05-01", "2026-05-11", True, False, 10, 40, 0.0, False),
        ("2026-05-01", "2026-05-31", "2026-05-30", True, False, 0, 29, 0.0, False),
        ("2026-05-20", "2026-06-19", None, False, True, 11, None, 500.0, True),
        ("2026-06-25", "2026-07-25", None, False, False, 0, None, 1000.0, False),
        ("2026-07-02", "2026-08-01", None, False, False, 0, None, 9999.0, True),  # issued after as_of
    ]
    invoices = rows_frame(
        spark,
        [
            ("ACC-1", d(a), d(b), d(c), p, not p, o, dl, dl > 0, dtp, out, dis)
            for a, b, c, p, o, dl, dtp, out, dis in rows
        ],
        "account_id string, invoice_date date, due_date date, paid_date date, is_paid boolean, is_open boolean, "
        "is_overdue boolean, days_late int, is_late boolean, days_to_pay int, outstanding_amount_usd double, "
        "is_disputed boolean",
    )
    accounts = rows_frame(
        spark, [("ACC-1", Decimal("3000")), ("ACC-2", Decimal("0"))], "account_id string, credit_limit decimal(18,2)"
    )
    params = PaymentHistoryParams(windows_days=[90, 30], trend_window_days=30, lookback_days=90)
    out = account_payment_history(invoices, accounts, params=params, as_of=date(2026, 6, 30))
    assert out.columns[:7] == [
        "account_id", "invoices_30d", "invoices_due_30d", "late_ratio_30d", "invoices_90d", "invoices_due_90d",
        "late_ratio_90d",
    ]  # fmt: skip
    expected = rows_frame(spark, 
        [
            ("ACC-1", 1, 1, 1.0, 3, 3, 0.6667, 7.0, 11, 34.5, 1.0, 11.0, 2, 1500.0, 1, 500.0, 11, 0.3333, 500.0,
             d("2026-06-25"), d("2026-05-30"), 0.5, 1.0, 0.6667, 1.0),
            ("ACC-2", 0, 0, None, 0, 0, None, None, None, None, None, None, 0, 0.0, 0, 0.0, None, None, 0.0,
             None, None, None, None, None, None),
        ],
        "account_id string, invoices_30d int, invoices_due_30d int, late_ratio_30d double, invoices_90d int, "
        "invoices_due_90d int, late_ratio_90d double, avg_days_late double, max_days_late int, "
        "avg_days_to_pay double, late_ratio_trend double, days_late_trend double, open_invoices int, "
        "open_balance_usd double, overdue_invoices int, overdue_balance_usd double, oldest_overdue_days int, "
        "disputed_share double, disputed_open_balance_usd double, last_invoice_date date, last_payment_date date, "
        "credit_utilisation double, credible_late_ratio_30d double, credible_late_ratio_90d double, "
        "credible_late_ratio_trend double",
    )  # fmt: skip
    equal(out, expected)  # without credibility weighting the credible ratios are the raw ones
    # Four invoices at the prior rate 25% join each account's own: 1 late of 1 -> 2/5, 2 of 3 -> 3/7; an account
    # with nothing due gets the prior; the trend is the difference of the credible ratios (0.4 - 1/5).
    shrunk = params.model_copy(update={"credibility_invoices": 4, "prior_late_ratio": 0.25})
    credible = [c for c in out.columns if c.startswith("credible_")]
    got = {
        r["account_id"]: r
        for r in account_payment_history(invoices, accounts, params=shrunk, as_of=date(2026, 6, 30)).collect()
    }
    assert [got["ACC-1"][c] for c in credible] == [0.4, pytest.approx(0.4286), pytest.approx(0.2)]
    assert [got["ACC-2"][c] for c in credible] == [0.25, 0.25, None]
    assert got["ACC-1"]["late_ratio_90d"] == 0.6667  # the raw ratio stays as it was


def test_product_catalog_price_history_as_of(spark: SparkSession) -> None:
    rows = [
        ("SKU-1", "100", True, "2026-01-01 08:00:00", "2026-02-01 08:00:00", 1),
        ("SKU-1", "100", False, "2026-02-01 08:00:00", "2026-05-15 08:00:00", 2),  # untouched price
        ("SKU-1", "120", False, "2026-05-15 08:00:00", "2026-07-10 08:00:00", 3),
        ("SKU-1", "90", False, "2026-07-10 08:00:00", None, 4),  # after as_of
        ("SKU-2", "10", True, "2025-01-01 08:00:00", "2026-03-01 00:00:00", 1),  # delisted
    ]
    skus = rows_frame(
        spark,
        [(s, f"{s} name", "Hardware", Decimal(p), "USD", a, ts(f), ts(t), v) for s, p, a, f, t, v in rows],
        f"sku_id string, sku_name string, category string, unit_price decimal(18,2), currency string, "
        f"is_active boolean, {VERSIONED}",
    )
    out = product_catalog(skus, params=ProductCatalogParams(recent_change_days=90), as_of=date(2026, 6, 30))
    expected = rows_frame(
        spark,
        [
            ("SKU-1", Decimal("120"), False, False, 3, 1, d("2026-05-15"), Decimal("100"), 20.0, True),
            ("SKU-2", Decimal("10"), True, True, 1, 0, None, None, None, False),
        ],
        "sku_id string, unit_price decimal(18,2), is_active boolean, is_deleted boolean, versions int, "
        "price_changes long, last_price_change_date date, previous_unit_price decimal(18,2), "
        "last_price_change_pct double, price_changed_recently boolean",
    )
    equal(out, expected)
