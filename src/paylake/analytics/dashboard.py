"""The payment-health dashboard as one self-contained HTML file (plotly.js inlined: it opens without network).

Built from the gold tables (and the scores' history) with DuckDB, so it needs no Spark. Every chart sits in a
``<div class="chart" id="chart-...">``; the page records script errors in ``data-js-errors`` on ``<body>`` so a
headless browser test can check that it rendered cleanly.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from paylake.analytics.lake_sql import QueryResult, run_query, table_has
from paylake.contract import PIPELINE_RUNS
from paylake.errors import UsageError

CHARTS = ("aging", "tiers", "risk_trend", "monthly_trend", "dq")
TIER_ORDER = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
TIER_COLOURS = {"LOW": "#2e7d32", "MEDIUM": "#f9a825", "HIGH": "#ef6c00", "CRITICAL": "#c62828"}
BUCKET_ORDER = ("current", "1-30", "31-60", "61-90", "90+")
# Counts script errors into <body data-js-errors="N"> where a headless browser test can read them.
ERROR_HOOK = """<script>
  window.__errors = [];
  window.addEventListener("error", function (e) { window.__errors.push(String(e.message)); });
  document.addEventListener("DOMContentLoaded", function () {
    setTimeout(function () { document.body.setAttribute("data-js-errors", String(window.__errors.length)); }, 0);
  });
</script>"""


@dataclass(frozen=True)
class DashboardData:
    """What the page shows, read from the lake."""

    score_date: date
    board: dict[str, Any]
    history: list[dict[str, Any]]
    months: list[dict[str, Any]]
    top: list[dict[str, Any]]
    freshness: list[dict[str, Any]]


def _dicts(result: QueryResult) -> list[dict[str, Any]]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def load(lake_root: str | Path, score_date: date | None = None, top: int = 15) -> DashboardData:
    """Read the dashboard's data for ``score_date`` (default: the latest one in gold).

    Raises:
        UsageError: gold has not been built, or has no row for ``score_date``.
    """
    history = _dicts(run_query(lake_root, "SELECT * FROM gold.payment_health_dashboard ORDER BY score_date"))
    if not history:
        raise UsageError("gold.payment_health_dashboard is empty; run the gold layer first")
    day = score_date or history[-1]["score_date"]
    board = next((r for r in history if r["score_date"] == day), None)
    if board is None:
        days = ", ".join(str(r["score_date"]) for r in history)
        raise UsageError(f"no dashboard row for score date {day}; score dates: {days}")
    months = _dicts(
        run_query(
            lake_root,
            "SELECT * FROM gold.payment_trends_monthly WHERE grouping = 'all' ORDER BY invoice_month",
        )
    )
    riskiest = _dicts(
        run_query(
            lake_root,
            f"""
            SELECT * FROM gold.collections_worklist WHERE score_date = DATE '{day.isoformat()}'
            ORDER BY rank LIMIT {int(top)}
            """,
        )
    )
    history = [r for r in history if r["score_date"] <= day]
    return DashboardData(day, board, history, months, riskiest, feed_freshness(lake_root, day))


FRESHNESS_SQL = """
SELECT "table", as_of, newest_extract, date_diff('day', newest_extract, as_of) AS days_behind,
       hours_since_newest_file, status
FROM ops.pipeline_runs
WHERE layer = 'bronze' AND as_of <= DATE '{day}'
QUALIFY row_number() OVER (PARTITION BY "table" ORDER BY finished_at DESC) = 1
ORDER BY "table"
"""


def feed_freshness(lake_root: str | Path, day: date) -> list[dict[str, Any]]:
    """Each bronze feed's freshness at its latest run up to ``day``: the newest extract received, how many days
    it lies behind that run's as-of date, and the hours since the feed's newest file changed (none in a lake
    whose run log predates these columns)."""
    if not table_has(lake_root, str(PIPELINE_RUNS), "newest_extract"):
        return []
    return _dicts(run_query(lake_root, FRESHNESS_SQL.format(day=day.isoformat()), str(PIPELINE_RUNS)))


def _ordered(mapping: Any, order: tuple[str, ...]) -> list[tuple[str, float]]:
    values = dict(mapping or {})
    return [(k, values[k]) for k in order if k in values] + sorted((k, v) for k, v in values.items() if k not in order)


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=360,
        margin={"l": 60, "r": 70, "t": 60, "b": 50},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def figures(data: DashboardData) -> dict[str, go.Figure]:
    """One plotly figure per chart of :data:`CHARTS`."""
    aging = _ordered(data.board["ar_by_aging_bucket_usd"], BUCKET_ORDER)
    accounts = dict(_ordered(data.board["accounts_by_tier"], TIER_ORDER))
    exposure = _ordered(data.board["exposure_by_tier_usd"], TIER_ORDER)
    tiers = [t for t, _ in exposure]
    colours = [TIER_COLOURS.get(t, "#607d8b") for t in tiers]
    tier_fig = go.Figure(
        [
            go.Bar(x=tiers, y=[v for _, v in exposure], name="Open balance (USD)", marker_color=colours),
            go.Scatter(
                x=tiers, y=[accounts.get(t, 0) for t in tiers], name="Accounts", yaxis="y2", mode="lines+markers"
            ),
        ]
    )
    tier_fig.update_layout(
        yaxis={"title": "USD"},
        yaxis2={"title": "accounts", "overlaying": "y", "side": "right", "rangemode": "tozero", "tickformat": ",d"},
    )
    days = [str(r["score_date"]) for r in data.history]
    risk_fig = go.Figure(
        [
            go.Scatter(x=days, y=[r["high_risk_exposure_usd"] for r in data.history], name="High-risk exposure (USD)"),
            go.Scatter(x=days, y=[r["avg_risk_score"] for r in data.history], name="Average score", yaxis="y2"),
        ]
    )
    risk_fig.update_layout(
        xaxis={"type": "category"},
        yaxis={"title": "USD", "rangemode": "tozero"},
        yaxis2={"title": "score", "overlaying": "y", "side": "right", "range": [0, 100]},
    )
    months = [str(m["invoice_month"])[:7] + (" (partial)" if m["is_partial"] else "") for m in data.months]
    monthly_fig = go.Figure(
        [
            go.Scatter(x=months, y=[m["on_time_rate"] for m in data.months], name="On-time rate"),
            go.Bar(
                x=months, y=[m["avg_days_late"] for m in data.months], name="Average days late", yaxis="y2", opacity=0.5
            ),
        ]
    )
    monthly_fig.update_layout(
        xaxis={"type": "category"},
        yaxis={"title": "on-time rate", "tickformat": ".0%"},
        yaxis2={"title": "days late", "overlaying": "y", "side": "right"},
    )
    dq = _ordered(data.board["bronze_dq_pass_rate_by_table"], ())
    dq_fig = go.Figure([go.Bar(x=[t for t, _ in dq], y=[v for _, v in dq], name="Pass rate")])
    dq_fig.update_layout(yaxis={"tickformat": ".1%", "range": [min([0.9] + [v for _, v in dq]), 1.0]})
    return {
        "aging": _layout(
            go.Figure([go.Bar(x=[b for b, _ in aging], y=[v for _, v in aging], name="Open balance (USD)")]),
            "Receivables by aging bucket (USD)",
        ),
        "tiers": _layout(tier_fig, "Exposure and accounts by risk tier"),
        "risk_trend": _layout(risk_fig, "Risk over score dates"),
        "monthly_trend": _layout(monthly_fig, "Monthly on-time rate and days late (by invoice month)"),
        "dq": _layout(dq_fig, "Data quality: pass rate of the latest bronze batch per table"),
    }


def _money(value: Any) -> str:
    return "-" if value is None else f"USD {value:,.0f}"


def _percent(value: Any) -> str:
    return "-" if value is None else f"{value:.1%}"


def _freshness_row(feed: dict[str, Any]) -> str:
    behind, hours = feed["days_behind"], feed["hours_since_newest_file"]
    state = "stale" if (behind or 0) > 0 or feed["status"] != "SUCCESS" else "fresh"
    cells = [
        html.escape(feed["table"]),
        str(feed["as_of"]),
        str(feed["newest_extract"] or "never"),
        "-" if behind is None else str(behind),
        "-" if hours is None else f"{hours:.1f}",
        html.escape(feed["status"]),
    ]
    return f'<tr class="{state}">' + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def render_html(data: DashboardData) -> str:
    """The whole page."""
    b = data.board
    change = b["high_risk_exposure_change_usd"]
    kpis = [
        ("Total receivables", _money(b["total_ar_usd"])),
        ("Overdue", f"{_money(b['overdue_ar_usd'])} ({_percent(b['overdue_share'])})"),
        ("High-risk exposure", _money(b["high_risk_exposure_usd"])),
        ("Change since previous score date", "-" if change is None else f"{change:+,.0f} USD"),
        ("Accounts scored", f"{b['accounts_scored']:,} ({b['high_risk_accounts']} high risk)"),
        ("Average risk score", f"{b['avg_risk_score']:.1f}"),
        ("Bronze DQ pass rate", _percent(b["bronze_dq_pass_rate"])),
    ]
    cards = "\n".join(
        f'<div class="kpi"><div class="label">{html.escape(k)}</div><div class="value">{html.escape(v)}</div></div>'
        for k, v in kpis
    )
    charts = []
    for index, (name, fig) in enumerate(figures(data).items()):
        body = fig.to_html(
            full_html=False, include_plotlyjs=index == 0, div_id=f"plot-{name}", config={"displayModeBar": False}
        )
        charts.append(f'<div class="chart" id="chart-{name}">{body}</div>')
    rows = "\n".join(_worklist_row(r) for r in data.top)
    feeds = "\n".join(_freshness_row(f) for f in data.freshness)
    stale = b.get("stale_inputs")  # a lake built before the column existed has none
    banner = (
        f'<div class="stale-banner" id="stale-inputs">Built on stale inputs: {html.escape(stale)}. A feed was late '
        "on this score date (its freshness says warn); the figures miss its newest data. See Feed freshness.</div>"
        if stale
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>paylake payment health - {data.score_date}</title>
{ERROR_HOOK}
<style>
  body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; background: #fafafa; }}
  h1 {{ margin-bottom: 4px; }} .sub {{ color: #666; margin-bottom: 20px; }}
  .kpis {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 12px; }}
  .kpi {{ background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 12px; }}
  .kpi .label {{ color: #666; font-size: 13px; }} .kpi .value {{ font-size: 20px; font-weight: 600; }}
  .charts {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 12px; margin: 20px 0; }}
  .chart {{ background: #fff; border: 1px solid #ddd; border-radius: 6px; }}
  table {{ border-collapse: collapse; width: 100%; background: #fff; font-size: 14px; }}
  th, td {{ border-bottom: 1px solid #eee; padding: 6px 8px; text-align: left; vertical-align: top; }}
  td.num {{ text-align: right; white-space: nowrap; }} ul {{ margin: 0; padding-left: 18px; }}
  .tier {{ color: #fff; border-radius: 4px; padding: 2px 6px; font-size: 12px; font-weight: 600; }}
  tr.stale td {{ background: #fdecea; }}
  .stale-banner {{ background: #fdecea; border: 1px solid #c62828; border-radius: 6px; padding: 10px 12px;
    margin-bottom: 16px; font-weight: 600; }}
</style>
</head>
<body>
<h1>Payment health</h1>
<div class="sub">Score date {data.score_date} &middot; generated by paylake from the gold tables</div>
{banner}
<div class="kpis" id="kpis">
{cards}
</div>
<div class="charts">
{chr(10).join(charts)}
</div>
<h2>Feed freshness</h2>
<table id="freshness">
<thead><tr><th>Feed</th><th>Last run as of</th><th>Newest extract</th><th>Days behind</th>
<th>Hours since newest file</th><th>Status</th></tr></thead>
<tbody>
{feeds or '<tr><td colspan="6">no bronze run recorded</td></tr>'}
</tbody>
</table>
<h2>Accounts to act on first, by expected overdue exposure</h2>
<table id="top-accounts">
<thead><tr><th>#</th><th>Account</th><th>Name</th><th>Tier</th><th>Score</th><th>P(late)</th><th>Overdue</th>
<th>Oldest past due</th><th>Expected overdue</th><th>Action</th><th>Reasons</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""


_CHANGE = {"UP": "&#9650; up", "DOWN": "&#9660; down", "NEW": "new", "SAME": ""}


def _worklist_row(r: dict[str, Any]) -> str:
    """One account of the worklist: rank, tier with its change, score with its change, probability, overdue
    balance, oldest days past due, expected overdue amount, action and reasons."""
    probability = next((r[c] for c in r if c.startswith("p_late_")), None)
    change = _CHANGE.get(r["tier_change"], "")
    delta = f" ({r['score_change']:+d})" if r["score_change"] else ""
    oldest = f"{r['oldest_overdue_days']} days" if r["oldest_overdue_days"] is not None else "-"
    return (
        f"<tr><td class=num>{r['rank']}</td>"
        f"<td>{html.escape(r['account_id'])}</td><td>{html.escape(r['account_name'] or '')}</td>"
        f'<td><span class="tier" style="background:{TIER_COLOURS.get(r["risk_tier"], "#607d8b")}">'
        f"{html.escape(r['risk_tier'])}</span> {change}</td>"
        f"<td class=num>{r['risk_score']}{delta}</td>"
        f"<td class=num>{'-' if probability is None else f'{probability:.0%}'}</td>"
        f"<td class=num>{_money(r['overdue_balance_usd'])}</td><td class=num>{oldest}</td>"
        f"<td class=num>{_money(r['expected_overdue_usd'])}</td><td>{html.escape(r['recommended_action'])}</td>"
        f"<td><ul>{''.join(f'<li>{html.escape(x)}</li>' for x in r['risk_reasons'])}</ul></td></tr>"
    )


def write_dashboard(lake_root: str | Path, out: str | Path, score_date: date | None = None) -> Path:
    """Write the dashboard page to ``out`` (folders created) and return its path."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(load(lake_root, score_date)), encoding="utf-8")
    return path
