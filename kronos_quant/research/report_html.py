"""Offline, self-contained HTML report for one or several signals.

``write_report(results, out_dir)`` writes::

    out_dir/report.html          PNGs embedded as base64 data URIs, no external assets
    out_dir/figures/*.png        the same figures as files
    out_dir/metrics.json         {signal name: headline metrics} (NaN -> null)
    out_dir/summary.csv          metrics x signals
    out_dir/<signal>_ic.csv, _quantile_returns.csv, _ic_by_year.csv, [_risk.csv, _portfolio.csv, _ic_decay.csv]

The page leads with the formatted headline (:func:`kronos_quant.research.report_headline.headline_table`:
IC, RankIC, ICIR, HAC t, annualised excess return with and without cost, IR, max drawdown,
turnover; percentages as percentages) and states each signal's label. The full metric list follows;
every number in it is rendered as ``<td data-signal=.. data-metric=..>`` with
:data:`NUMBER_FORMAT`, so tests and scripts can parse it back (headline cells carry
``data-headline=..`` instead).
"""
from __future__ import annotations

import base64
import html
import json
import logging
import re
from pathlib import Path

import pandas as pd

from kronos_quant.research import report_figures as figures
from kronos_quant.research.report_data import (
    ReportEntry,
    SignalResult,
    build_entry,
    drop_nan_rows,
    monthly_excess,
    summary_table,
)
from kronos_quant.research.report_headline import finite_or_none, headline_table, json_ready

logger = logging.getLogger(__name__)

NUMBER_FORMAT = "{:.6g}"  # 6 significant digits in HTML tables
STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}img{max-width:100%}"
    "table.headline td{font-size:1.1em;min-width:7em}"
)


def safe_name(name: str) -> str:
    """File-system-safe version of a signal name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "signal"


def _format(value) -> str:
    value = finite_or_none(value)
    return "" if value is None else NUMBER_FORMAT.format(value)


def _table_html(frame: pd.DataFrame, *, tag: str | None = None) -> str:
    """Numbers table; with ``tag`` each cell carries ``data-<tag>`` (column) and ``data-metric`` (row)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for metric, values in frame.iterrows():
        cells = []
        for column, value in values.items():
            attrs = f' data-{tag}="{html.escape(str(column))}" data-metric="{html.escape(str(metric))}"' if tag else ""
            cells.append(f"<td{attrs}>{_format(float(value))}</td>")
        rows.append(f"<tr><th>{html.escape(str(metric))}</th>{''.join(cells)}</tr>")
    return f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def headline_html(metrics: dict) -> str:
    """The formatted headline table (``{signal: metrics}``) as HTML; cells carry ``data-headline``."""
    table = headline_table(metrics)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for label, values in table.iterrows():
        cells = "".join(
            f'<td data-headline="{html.escape(str(label))}" data-signal="{html.escape(str(column))}">'
            f"{html.escape(text)}</td>"
            for column, text in values.items()
        )
        rows.append(f"<tr><th>{html.escape(str(label))}</th>{cells}</tr>")
    return f"<table class='headline'><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def label_note(entries: list[ReportEntry]) -> str:
    """One sentence per distinct label: the expression read from the run and its horizon in days."""
    groups: dict[tuple, list[str]] = {}
    for entry in entries:
        key = (entry.result.label_expression, entry.result.label_horizon)
        groups.setdefault(key, []).append(entry.result.name)
    parts = []
    for (expression, horizon), names in groups.items():
        what = f"<code>{html.escape(expression)}</code>" if expression else "not recorded in the run"
        days = f"{horizon} day" + ("s" if horizon != 1 else "")
        parts.append(
            f"Label of {html.escape(', '.join(names))}: {what} ({horizon}-day horizon; HAC t-statistics use "
            f"Newey–West lags of at least {days})."
        )
    return " ".join(parts)


def _image_html(png: bytes, caption: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _all_figures(entries: list[ReportEntry]) -> dict[str, tuple[str, object]]:
    """``{file stem: (caption, Figure)}`` for every figure that has data."""
    items = {
        "cumulative_return": ("Cumulative return vs benchmark", figures.fig_cumulative_return(entries)),
        "excess_return": ("Excess return with and without cost", figures.fig_excess_return(entries)),
        "drawdown": ("Drawdown of excess return", figures.fig_drawdown(entries)),
        "turnover": ("Turnover", figures.fig_turnover(entries)),
        "ic": ("Daily IC / RankIC and rolling means", figures.fig_ic(entries)),
        "ic_decay": ("IC decay over label horizons", figures.fig_ic_decay(entries)),
        "quantile_returns": ("Cumulative quantile returns", figures.fig_quantile_returns(entries)),
    }
    for entry in entries:
        if entry.curves is not None:
            table = monthly_excess(entry.curves)
            items[f"monthly_excess_{safe_name(entry.result.name)}"] = (
                f"{entry.result.name}: monthly excess return",
                figures.fig_monthly_heatmap(entry, table),
            )
    return {stem: item for stem, item in items.items() if item[1] is not None}


def _write_tables(entry: ReportEntry, out_dir: Path) -> None:
    stem = safe_name(entry.result.name)
    analysis = entry.analysis
    analysis.ic.to_csv(out_dir / f"{stem}_ic.csv")
    analysis.quantile_returns.to_csv(out_dir / f"{stem}_quantile_returns.csv")
    analysis.by_year.to_csv(out_dir / f"{stem}_ic_by_year.csv")
    if analysis.decay is not None:
        analysis.decay.to_csv(out_dir / f"{stem}_ic_decay.csv")
    if entry.curves is not None:
        entry.curves.to_csv(out_dir / f"{stem}_portfolio.csv")
        entry.risk.to_csv(out_dir / f"{stem}_risk.csv")


def _signal_sections(entries: list[ReportEntry]) -> str:
    parts = []
    for entry in entries:
        name = html.escape(entry.result.name)
        parts.append(f"<h3>{name}: IC by year</h3>{_table_html(entry.analysis.by_year)}")
        if entry.risk is not None:
            parts.append(f"<h3>{name}: risk analysis of excess return</h3>{_table_html(entry.risk)}")
    return "".join(parts)


def render_html(entries: list[ReportEntry], pngs: dict[str, tuple[str, bytes]], title: str) -> str:
    """The whole report page as a string (``pngs``: ``{stem: (caption, png bytes)}``)."""
    summary = drop_nan_rows(summary_table(entries))
    images = "".join(_image_html(png, caption) for caption, png in pngs.values())
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{label_note(entries)} Returns in the full list are fractions; IC is per date; cumulative curves "
        "are sums of daily returns.</p>"
        f"<h2>Headline</h2>{headline_html({entry.result.name: entry.metrics for entry in entries})}"
        f"<h2>All metrics</h2>{_table_html(summary, tag='signal')}"
        f"<h2>Figures</h2>{images}<h2>Tables</h2>{_signal_sections(entries)}</body></html>"
    )


def write_report(
    results: list[SignalResult],
    out_dir,
    *,
    title: str = "Kronos alpha report",
    n_quantiles: int = 5,
    rolling_window: int = 20,
) -> Path:
    """Compute, plot and write the report of ``results`` into ``out_dir``; returns ``report.html``'s path."""
    if isinstance(results, SignalResult):
        results = [results]
    if not results:
        raise ValueError("write_report needs at least one SignalResult")
    names = [result.name for result in results]
    if len(set(names)) != len(names):
        raise ValueError(f"signal names must be unique; got {names}")
    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    entries = [build_entry(r, n_quantiles=n_quantiles, rolling_window=rolling_window) for r in results]
    pngs = {}
    for stem, (caption, fig) in _all_figures(entries).items():
        png = figures.to_png(fig)
        (out_dir / "figures" / f"{stem}.png").write_bytes(png)
        pngs[stem] = (caption, png)
    for entry in entries:
        _write_tables(entry, out_dir)
    summary_table(entries).to_csv(out_dir / "summary.csv")
    metrics = json_ready({entry.result.name: entry.metrics for entry in entries})
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    report_path = out_dir / "report.html"
    report_path.write_text(render_html(entries, pngs, title), encoding="utf-8")
    logger.debug("report written to %s (%d figures)", report_path, len(pngs))  # callers say where it ends up
    return report_path
