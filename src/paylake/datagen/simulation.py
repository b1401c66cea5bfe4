"""The generator's simulation: accounts with a hidden health and a payment habit, a catalog, and invoices with
their lines and payment events, day by day (see :mod:`paylake.datagen.generator` for what it models)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from paylake.datagen.vocabulary import (
    CATEGORIES,
    COUNTRIES,
    COUNTRY_WEIGHTS,
    INDUSTRIES,
    NAME_A,
    NAME_B,
    NAME_C,
    SEGMENTS,
)


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
    account: str  # its lines are not kept: they never change, and go out with the day they were issued


def _stamp(day: date, seconds: int) -> str:
    return (datetime.combine(day, datetime.min.time()) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def _credit_limit(amount: float) -> str:
    """Credit limits are whole thousands, at least 1,000."""
    return f"{max(1000, round(amount / 1000) * 1000):.2f}"


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class Simulation:
    """The day-by-day simulation of accounts, catalog and invoices (see :mod:`paylake.datagen.generator`)."""

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
        invoice = _Invoice(row, account_id)
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
