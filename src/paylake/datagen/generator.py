"""Seeded synthetic landing feeds with real signal for risk scoring.

The simulation runs day by day over ``history_days`` before the first extract plus ``days`` extract days:

* Each account has a hidden financial health (segment-dependent) and a payment habit that feeds back from its
  own history. Some accounts go through a distress episode: health drops, and the credit team reacts within
  days (credit limit cut, put on hold, terms shortened), so the account change precedes the burst of late
  payments that follows once the invoices issued in distress come due.
* Late-payment probability rises with weak health, high credit utilisation, disputes and past lateness.
* Files follow the bundled metadata's landing contract: full daily snapshots of accounts and skus; daily
  increments of new and changed invoices and line items, the first extract carrying all history up to that day.
* About 1-3% of increment rows (fewer in snapshots) are dirty in realistic ways.

Same config, same bytes: all randomness comes from one seeded generator and iteration order is fixed.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

ACCOUNT_COLUMNS = [
    "account_id",
    "account_name",
    "industry",
    "segment",
    "country_code",
    "region",
    "credit_limit",
    "payment_terms_days",
    "account_status",
    "paperless_billing",
    "created_date",
    "updated_at",
]
SKU_COLUMNS = ["sku_id", "sku_name", "category", "unit_price", "currency", "is_active", "updated_at"]
INVOICE_COLUMNS = [
    "invoice_id",
    "account_id",
    "invoice_date",
    "due_date",
    "currency",
    "invoice_amount",
    "status",
    "paid_date",
    "paid_amount",
    "is_disputed",
    "updated_at",
]
LINE_COLUMNS = [
    "line_item_id",
    "invoice_id",
    "sku_id",
    "quantity",
    "unit_price",
    "discount_pct",
    "line_amount",
    "updated_at",
]

SEGMENTS = {  # share, health offset, invoices per day, credit limit (lognormal median), payment terms
    "ENTERPRISE": (0.15, 0.5, 0.30, 400_000, (45, 60)),
    "MID_MARKET": (0.35, 0.0, 0.15, 100_000, (30, 45)),
    "SMB": (0.50, -0.5, 0.08, 20_000, (15, 30)),
}
COUNTRIES = {  # country: (region, currency, fx per USD)
    "US": ("NA", "USD", 1.0),
    "CA": ("NA", "CAD", 1.36),
    "GB": ("EMEA", "GBP", 0.79),
    "DE": ("EMEA", "EUR", 0.92),
    "FR": ("EMEA", "EUR", 0.92),
    "NL": ("EMEA", "EUR", 0.92),
    "AU": ("APAC", "AUD", 1.52),
    "SG": ("APAC", "SGD", 1.34),
}
COUNTRY_WEIGHTS = [0.40, 0.08, 0.12, 0.10, 0.08, 0.06, 0.10, 0.06]
INDUSTRIES = [
    "Manufacturing",
    "Retail",
    "Healthcare",
    "Logistics",
    "Technology",
    "Construction",
    "Hospitality",
    "Education",
    "Energy",
    "Financial Services",
]
CATEGORIES = ["Hardware", "Software", "Services", "Support", "Training", "Cloud", "Accessories"]
NAME_A = [
    "North",
    "Blue",
    "Summit",
    "Silver",
    "Iron",
    "Bright",
    "Cedar",
    "Harbor",
    "Atlas",
    "Pioneer",
    "Granite",
    "Evergreen",
    "Falcon",
    "Lakeside",
    "Redwood",
    "Sterling",
]
NAME_B = [
    "Logistics",
    "Foods",
    "Systems",
    "Health",
    "Builders",
    "Retail",
    "Energy",
    "Labs",
    "Works",
    "Partners",
    "Supply",
    "Motors",
    "Textiles",
    "Digital",
    "Freight",
    "Clinics",
]
NAME_C = ["Inc", "LLC", "Ltd", "GmbH", "Group", "Co", "SA", "BV"]


@dataclass(frozen=True)
class GeneratorConfig:
    """Size and shape of the generated feeds."""

    accounts: int = 2000
    skus: int = 300
    days: int = 120
    end: date = date(2026, 11, 20)
    seed: int = 7
    history_days: int = 120
    invoice_rate: float = 1.0
    dirty_rate: float = 0.015

    @property
    def first_extract(self) -> date:
        return self.end - timedelta(days=self.days - 1)

    @property
    def start(self) -> date:
        return self.first_extract - timedelta(days=self.history_days)


@dataclass
class WriteStats:
    """What :func:`write_landing` wrote."""

    files: int = 0
    rows: int = 0
    bytes: int = 0


@dataclass
class _Account:
    row: dict[str, str]
    health: float
    rate: float
    fx: float
    created: int
    deleted: int | None = None
    distress: tuple[int, int, float] | None = None  # start day, end day, severity
    habit: float = 0.2
    open_balance: float = 0.0


@dataclass
class _Invoice:
    row: dict[str, str]
    account: str
    lines: list[dict[str, str]] = field(default_factory=list)


def _stamp(day: date, seconds: int) -> str:
    return (datetime.combine(day, datetime.min.time()) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def _credit_limit(amount: float) -> str:
    """Credit limits are whole thousands, at least 1,000."""
    return f"{max(1000, round(amount / 1000) * 1000):.2f}"


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class _Simulation:
    def __init__(self, config: GeneratorConfig) -> None:
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self.total_days = config.history_days + config.days
        self.accounts: dict[str, _Account] = {}
        self.skus: dict[str, dict[str, str]] = {}
        self.sku_deleted: dict[str, int] = {}
        self.invoices: dict[str, _Invoice] = {}
        self.events: dict[int, list[tuple[str, str, float]]] = defaultdict(list)  # day -> (invoice, kind, value)
        self.account_events: dict[int, list[tuple[str, str]]] = defaultdict(list)
        self.changed_invoices: dict[int, list[dict[str, str]]] = defaultdict(list)
        self.new_lines: dict[int, list[dict[str, str]]] = defaultdict(list)
        self.invoice_seq = 0

    def day(self, index: int) -> date:
        return self.config.start + timedelta(days=index)

    def seconds(self) -> int:
        return int(self.rng.integers(6 * 3600, 22 * 3600))

    # ----- set-up -------------------------------------------------------------------------------------
    def create_catalog(self) -> None:
        for index in range(self.config.skus):
            sku_id = f"SKU-{index + 1:05d}"
            category = CATEGORIES[int(self.rng.integers(len(CATEGORIES)))]
            price = float(np.round(np.exp(self.rng.normal(4.5, 1.2)), 2)) + 1.0
            appears = 0 if self.rng.random() > 0.1 else int(self.rng.integers(1, self.total_days))
            self.skus[sku_id] = {
                "sku_id": sku_id,
                "sku_name": f"{category} {NAME_A[index % len(NAME_A)]} {index + 1}",
                "category": category,
                "unit_price": f"{price:.2f}",
                "currency": "USD",
                "is_active": "true" if self.rng.random() > 0.05 else "false",
                "updated_at": _stamp(
                    self.day(appears) - timedelta(days=int(self.rng.integers(0, 400)) if appears == 0 else 0),
                    self.seconds(),
                ),
                "_appears": str(appears),
            }
            if self.rng.random() < 0.01:
                self.sku_deleted[sku_id] = int(self.rng.integers(self.config.history_days, self.total_days))

    def create_accounts(self) -> None:
        names = list(SEGMENTS)
        shares = [SEGMENTS[s][0] for s in names]
        countries = list(COUNTRIES)
        for index in range(self.config.accounts):
            account_id = f"ACC-{index + 1:06d}"
            segment = names[int(self.rng.choice(len(names), p=shares))]
            _, offset, rate, limit, terms = SEGMENTS[segment]
            country = countries[int(self.rng.choice(len(countries), p=COUNTRY_WEIGHTS))]
            region, _, fx = COUNTRIES[country]
            created = 0 if self.rng.random() > 0.12 else int(self.rng.integers(1, self.total_days))
            created_date = (
                self.day(created) - timedelta(days=int(self.rng.integers(30, 1500)))
                if created == 0
                else self.day(created)
            )
            health = float(self.rng.normal(offset, 1.0))
            account = _Account(
                row={
                    "account_id": account_id,
                    "account_name": f"{NAME_A[int(self.rng.integers(len(NAME_A)))]} "
                    f"{NAME_B[int(self.rng.integers(len(NAME_B)))]} {NAME_C[int(self.rng.integers(len(NAME_C)))]}",
                    "industry": INDUSTRIES[int(self.rng.integers(len(INDUSTRIES)))],
                    "segment": segment,
                    "country_code": country,
                    "region": region,
                    "credit_limit": _credit_limit(float(np.exp(self.rng.normal(math.log(limit), 0.5)))),
                    "payment_terms_days": str(terms[int(self.rng.integers(2))]),
                    "account_status": "ACTIVE",
                    "paperless_billing": "true" if self.rng.random() < 0.6 else "false",
                    "created_date": created_date.isoformat(),
                    "updated_at": _stamp(
                        created_date + timedelta(days=int(self.rng.integers(0, 30)) if created == 0 else 0),
                        self.seconds(),
                    ),
                },
                health=health,
                rate=rate * self.config.invoice_rate * float(np.exp(self.rng.normal(0, 0.3))),
                fx=fx,
                created=created,
                habit=_sigmoid(-1.6 - 1.1 * health),
            )
            if self.rng.random() < 0.3:
                start = int(self.rng.integers(0, self.total_days))
                severity = float(self.rng.uniform(1.0, 2.6))
                account.distress = (start, start + int(self.rng.integers(30, 120)), severity)
                self._schedule_reaction(account_id, start, severity)
            if self.rng.random() < 0.012:
                account.deleted = int(
                    self.rng.integers(max(created + 1, self.config.history_days), self.total_days + 1)
                )
            self.accounts[account_id] = account

    def _schedule_reaction(self, account_id: str, start: int, severity: float) -> None:
        if self.rng.random() > 0.85:
            return  # not every distress is noticed in time
        when = start + int(self.rng.integers(0, 8))
        kind = "hold" if severity > 2.0 and self.rng.random() < 0.5 else ("cut" if self.rng.random() < 0.6 else "terms")
        self.account_events[when].append((account_id, kind))

    # ----- daily behaviour ----------------------------------------------------------------------------
    def health_on(self, account: _Account, day: int) -> float:
        if account.distress and account.distress[0] <= day < account.distress[1]:
            return account.health - account.distress[2]
        return account.health

    def touch(self, account: _Account, day: int) -> None:
        account.row["updated_at"] = _stamp(self.day(day), self.seconds())

    def account_changes(self, day: int) -> None:
        for account_id, kind in self.account_events.get(day, []):
            account = self.accounts[account_id]
            row = account.row
            if kind == "cut":
                row["credit_limit"] = _credit_limit(float(row["credit_limit"]) * float(self.rng.uniform(0.4, 0.7)))
            elif kind == "hold":
                row["account_status"] = "ON_HOLD"
                if account.distress:
                    self.account_events[account.distress[1]].append((account_id, "release"))
            elif kind == "terms":
                row["payment_terms_days"] = str({60: 45, 45: 30, 30: 15}.get(int(row["payment_terms_days"]), 15))
            elif kind == "release" and row["account_status"] == "ON_HOLD":
                row["account_status"] = "ACTIVE"
            self.touch(account, day)
        for account in self.accounts.values():
            if account.created > day or (account.deleted is not None and account.deleted <= day):
                continue
            draw = self.rng.random()
            if draw < 0.003 and self.health_on(account, day) > 0.3:
                raised = float(account.row["credit_limit"]) * float(self.rng.uniform(1.1, 1.4))
                account.row["credit_limit"] = _credit_limit(raised)
                self.touch(account, day)
            elif draw < 0.004:  # untracked change: must not open an SCD2 version
                account.row["paperless_billing"] = "false" if account.row["paperless_billing"] == "true" else "true"
                self.touch(account, day)

    def catalog_changes(self, day: int) -> None:
        for sku in self.skus.values():
            if int(sku["_appears"]) > day:
                continue
            draw = self.rng.random()
            if draw < 0.004:
                sku["unit_price"] = f"{float(sku['unit_price']) * float(self.rng.uniform(0.9, 1.15)):.2f}"
                sku["updated_at"] = _stamp(self.day(day), self.seconds())
            elif draw < 0.0048:
                sku["is_active"] = "false" if sku["is_active"] == "true" else "true"
                sku["updated_at"] = _stamp(self.day(day), self.seconds())

    def new_invoices(self, day: int) -> None:
        live_skus = [s for s in self.skus.values() if int(s["_appears"]) <= day and s["sku_id"] not in self.sku_deleted]
        popularity = np.array([1.0 / (i + 1) ** 0.7 for i in range(len(live_skus))])
        popularity /= popularity.sum()
        for account_id, account in self.accounts.items():
            if account.created > day or (account.deleted is not None and account.deleted <= day + 30):
                continue
            rate = account.rate * (0.3 if account.row["account_status"] == "ON_HOLD" else 1.0)
            for _ in range(int(self.rng.poisson(rate))):
                self.issue_invoice(account_id, account, day, live_skus, popularity)

    def issue_invoice(
        self, account_id: str, account: _Account, day: int, skus: list[dict[str, str]], popularity: np.ndarray
    ) -> None:
        self.invoice_seq += 1
        invoice_id = f"INV-{self.invoice_seq:08d}"
        currency = COUNTRIES[account.row["country_code"]][1]
        stamp = self.seconds()
        lines = []
        for number in range(1, int(self.rng.integers(1, 6)) + 1):
            sku = skus[int(self.rng.choice(len(skus), p=popularity))]
            quantity = int(self.rng.integers(1, 25 if account.row["segment"] == "ENTERPRISE" else 10))
            price = round(float(sku["unit_price"]) * account.fx, 2)
            discount = [0, 0, 0, 5, 10, 15][int(self.rng.integers(6))]
            lines.append(
                {
                    "line_item_id": f"{invoice_id}-{number:02d}",
                    "invoice_id": invoice_id,
                    "sku_id": sku["sku_id"],
                    "quantity": str(quantity),
                    "unit_price": f"{price:.2f}",
                    "discount_pct": f"{discount:.2f}",
                    "line_amount": f"{quantity * price * (1 - discount / 100):.2f}",
                    "updated_at": _stamp(self.day(day), stamp),
                }
            )
        amount = round(sum(float(line["line_amount"]) for line in lines), 2)
        terms = int(account.row["payment_terms_days"])
        row = {
            "invoice_id": invoice_id,
            "account_id": account_id,
            "invoice_date": self.day(day).isoformat(),
            "due_date": (self.day(day) + timedelta(days=terms)).isoformat(),
            "currency": currency,
            "invoice_amount": f"{amount:.2f}",
            "status": "OPEN",
            "paid_date": "",
            "paid_amount": "0.00",
            "is_disputed": "false",
            "updated_at": _stamp(self.day(day), stamp),
        }
        invoice = _Invoice(row, account_id, lines)
        self.invoices[invoice_id] = invoice
        self.changed_invoices[day].append(dict(row))
        self.new_lines[day].extend(lines)
        account.open_balance += amount
        self.plan_payment(invoice_id, account, day, terms, amount)

    def plan_payment(self, invoice_id: str, account: _Account, day: int, terms: int, amount: float) -> None:
        health = self.health_on(account, day)
        utilisation = account.open_balance / max(float(account.row["credit_limit"]) * account.fx, 1.0)
        disputed = self.rng.random() < (0.10 if health < -1 else 0.035)
        z = (
            -1.7
            - 1.0 * health
            + 1.4 * max(utilisation - 0.6, 0.0)
            + 1.0 * disputed
            + 2.2 * (account.habit - 0.2)
            + (0.6 if terms <= 15 else 0.0)
        )
        late = self.rng.random() < _sigmoid(z)
        if disputed:
            self.events[day + int(self.rng.integers(3, 20))].append((invoice_id, "dispute", 0.0))
        due = day + terms
        if self.rng.random() < 0.03:
            due += 15
            self.events[day + int(self.rng.integers(1, max(2, terms)))].append((invoice_id, "extend", 15.0))
        if late:
            days_late = 1 + int(self.rng.exponential(6 + 12 * max(0.0, -health)))
            if health < -1.2 and self.rng.random() < 0.15:
                return  # never paid within the horizon
            if self.rng.random() < 0.2:
                self.events[due + max(1, days_late // 2)].append(
                    (invoice_id, "partial", float(self.rng.uniform(0.3, 0.7)))
                )
            self.events[due + days_late].append((invoice_id, "paid", 1.0))
        else:
            early = int(self.rng.integers(0, max(1, int(terms * 0.6))))
            self.events[max(day + 1, due - early)].append((invoice_id, "paid", 1.0))

    def invoice_events(self, day: int) -> None:
        for invoice_id, kind, value in self.events.pop(day, []):
            invoice = self.invoices[invoice_id]
            row = invoice.row
            if row["status"] == "PAID":
                continue
            account = self.accounts[invoice.account]
            amount = float(row["invoice_amount"])
            if kind == "dispute":
                row["is_disputed"] = "true"
            elif kind == "extend":
                row["due_date"] = (date.fromisoformat(row["due_date"]) + timedelta(days=int(value))).isoformat()
            elif kind == "partial":
                row["status"], row["paid_amount"] = "PARTIALLY_PAID", f"{amount * value:.2f}"
                account.open_balance -= amount * value
            elif kind == "paid":
                account.open_balance -= amount - float(row["paid_amount"])
                row["status"], row["paid_amount"], row["paid_date"] = "PAID", f"{amount:.2f}", self.day(day).isoformat()
                was_late = self.day(day) > date.fromisoformat(row["due_date"])
                account.habit = 0.85 * account.habit + 0.15 * float(was_late)
            row["updated_at"] = _stamp(self.day(day), self.seconds())
            self.changed_invoices[day].append(dict(row))

    # ----- extracts -----------------------------------------------------------------------------------
    def account_snapshot(self, day: int) -> list[dict[str, str]]:
        return [
            dict(a.row) for a in self.accounts.values() if a.created <= day and (a.deleted is None or a.deleted > day)
        ]

    def sku_snapshot(self, day: int) -> list[dict[str, str]]:
        return [
            {k: v for k, v in s.items() if not k.startswith("_")}
            for s in self.skus.values()
            if int(s["_appears"]) <= day and self.sku_deleted.get(s["sku_id"], self.total_days + 1) > day
        ]


def _dirty(
    rows: list[dict[str, str]], kinds: dict[str, list[str]], rate: float, rng: np.random.Generator
) -> list[dict[str, str]]:
    """Copy ``rows``, corrupting about ``rate`` of them; a duplicate adds a row, the rest modify one."""
    out: list[dict[str, str]] = []
    names = list(kinds)
    for row in rows:
        if rng.random() >= rate:
            out.append(row)
            continue
        kind = names[int(rng.integers(len(names)))]
        bad = dict(row)
        if kind == "duplicate":
            out += [row, dict(row)]
            continue
        column = kinds[kind][int(rng.integers(len(kinds[kind])))]
        if kind == "null":
            bad[column] = ""
        elif kind == "negative":
            bad[column] = "-" + bad[column].lstrip("-")
        elif kind == "bad_date":
            bad[column] = ["2026/13/45", "31-12-2026", "yesterday"][int(rng.integers(3))]
        elif kind == "bad_number":
            value = bad[column] or "1"
            bad[column] = f"{float(value):,.2f}" if float(value) >= 1000 else f"{value}abc"
        elif kind == "unknown_currency":
            bad[column] = ["XXX", "usd", "EURO"][int(rng.integers(3))]
        elif kind == "orphan":
            bad[column] = bad[column].split("-")[0] + "-999999"
        elif kind == "swap_dates":
            bad["due_date"] = (
                date.fromisoformat(bad["invoice_date"]) - timedelta(days=int(rng.integers(1, 30)))
            ).isoformat()
        out.append(bad)
    return out


INVOICE_DIRT = {
    "null": ["invoice_id", "account_id"],
    "negative": ["invoice_amount"],
    "swap_dates": ["due_date"],
    "unknown_currency": ["currency"],
    "orphan": ["account_id"],
    "duplicate": [],
    "bad_date": ["invoice_date", "due_date"],
    "bad_number": ["invoice_amount"],
}
LINE_DIRT = {
    "null": ["line_item_id"],
    "negative": ["quantity"],
    "orphan": ["sku_id"],
    "duplicate": [],
    "bad_number": ["line_amount", "quantity"],
}
ACCOUNT_DIRT = {"bad_number": ["credit_limit"], "null": ["segment"], "bad_date": ["created_date"]}
SKU_DIRT = {"negative": ["unit_price"], "null": ["category"]}


def _write(path: Path, columns: list[str], rows: list[dict[str, str]], stats: WriteStats) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    stats.files += 1
    stats.rows += len(rows)
    stats.bytes += path.stat().st_size


def write_landing(config: GeneratorConfig, out: Path) -> WriteStats:
    """Simulate and write ``<out>/<table>/<table>_<YYYYMMDD>.csv`` for every extract day."""
    sim = _Simulation(config)
    sim.create_catalog()
    sim.create_accounts()
    dirt = np.random.default_rng(config.seed + 1)
    stats = WriteStats()
    first = config.history_days
    for day in range(sim.total_days):
        sim.account_changes(day)
        sim.catalog_changes(day)
        sim.new_invoices(day)
        sim.invoice_events(day)
        if day < first:
            sim.changed_invoices.pop(day, None)
            sim.new_lines.pop(day, None)
            continue
        stamp = sim.day(day).strftime("%Y%m%d")
        if day == first:  # the first extract carries the latest state of every invoice so far
            invoices = [dict(inv.row) for inv in sim.invoices.values()]
            lines = [line for inv in sim.invoices.values() for line in inv.lines]
        else:
            invoices, lines = sim.changed_invoices.get(day, []), sim.new_lines.get(day, [])
        rate = config.dirty_rate
        _write(
            out / "accounts" / f"accounts_{stamp}.csv",
            ACCOUNT_COLUMNS,
            _dirty(sim.account_snapshot(day), ACCOUNT_DIRT, rate / 6, dirt),
            stats,
        )
        _write(
            out / "skus" / f"skus_{stamp}.csv",
            SKU_COLUMNS,
            _dirty(sim.sku_snapshot(day), SKU_DIRT, rate / 6, dirt),
            stats,
        )
        _write(
            out / "invoices" / f"invoices_{stamp}.csv",
            INVOICE_COLUMNS,
            _dirty(invoices, INVOICE_DIRT, rate, dirt),
            stats,
        )
        _write(
            out / "invoice_line_items" / f"invoice_line_items_{stamp}.csv",
            LINE_COLUMNS,
            _dirty(lines, LINE_DIRT, rate, dirt),
            stats,
        )
        sim.changed_invoices.pop(day, None)
        sim.new_lines.pop(day, None)
    return stats
