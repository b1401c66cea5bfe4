"""The generator is deterministic, follows the landing contract, and is dirty in the promised proportion."""

from __future__ import annotations

import csv
import hashlib
from datetime import date
from pathlib import Path

from paylake.datagen.generator import GeneratorConfig, write_landing
from paylake.datagen.vocabulary import ACCOUNT_COLUMNS, INVOICE_COLUMNS

SMALL = GeneratorConfig(accounts=60, skus=20, days=10, end=date(2026, 3, 1), seed=3, history_days=40)


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.csv")):
        h.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return h.hexdigest()


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    write_landing(SMALL, tmp_path / "a")
    write_landing(SMALL, tmp_path / "b")
    write_landing(GeneratorConfig(**{**SMALL.__dict__, "seed": 4}), tmp_path / "c")
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")


def test_files_follow_the_landing_contract(tmp_path: Path) -> None:
    stats = write_landing(SMALL, tmp_path)
    assert stats.files == 4 * 10
    days = sorted(p.name for p in (tmp_path / "accounts").iterdir())
    assert days[0] == "accounts_20260220.csv" and days[-1] == "accounts_20260301.csv"
    first = read(tmp_path / "accounts" / days[0])
    assert list(first[0]) == ACCOUNT_COLUMNS
    invoices_day1 = read(tmp_path / "invoices" / "invoices_20260220.csv")
    invoices_day2 = read(tmp_path / "invoices" / "invoices_20260221.csv")
    assert list(invoices_day1[0]) == INVOICE_COLUMNS
    # The first extract carries the history; later ones are increments.
    assert len(invoices_day1) > 5 * len(invoices_day2) > 0
    assert min(r["invoice_date"] for r in invoices_day1 if r["invoice_date"][:2] == "20") < "2026-01-15"


def test_dirty_rows_are_a_small_share_of_increments(tmp_path: Path) -> None:
    config = GeneratorConfig(accounts=200, skus=40, days=20, end=date(2026, 3, 1), seed=5, history_days=60)
    write_landing(config, tmp_path)
    rows = [r for p in sorted((tmp_path / "invoices").iterdir()) for r in read(p)]
    dirty = [
        r
        for r in rows
        if not r["invoice_id"]
        or r["invoice_amount"].startswith("-")
        or "," in r["invoice_amount"]
        or "abc" in r["invoice_amount"]
        or r["currency"] not in {"USD", "EUR", "GBP", "CAD", "AUD", "SGD"}
        or r["account_id"].endswith("999999")
        or not r["account_id"]
        or (r["due_date"][:2] == "20" and r["invoice_date"][:2] == "20" and r["due_date"] < r["invoice_date"])
    ]
    share = len(dirty) / len(rows)
    assert 0.005 < share < 0.03, share


def test_the_bundled_sample_is_what_make_sample_generates(repo: Path, tmp_path: Path) -> None:
    """`make sample`'s settings give the bundled landing files byte for byte: the sample stays reproducible, and a
    change to the generator that would alter its data shows here."""
    write_landing(GeneratorConfig(accounts=240, skus=60, days=90, end=date(2026, 11, 20), seed=7), tmp_path)
    bundled = repo / "landing"
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.csv"))
    feeds = ("accounts", "skus", "invoices", "invoice_line_items")
    assert generated == sorted(p.relative_to(bundled) for feed in feeds for p in (bundled / feed).glob("*.csv"))
    different = [str(name) for name in generated if (tmp_path / name).read_bytes() != (bundled / name).read_bytes()]
    assert not different, different[:5]
