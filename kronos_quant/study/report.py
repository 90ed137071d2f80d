"""The study's comparison page: one offline HTML file plus CSVs (no qlib here).

``write_study_report(result, out_dir)`` writes::

    out_dir/study.html        headline table (formatted percentages), figures as base64 PNGs, tables
    out_dir/headline.csv      the same metrics as plain numbers (fractions)
    out_dir/ic_by_year.csv, ic_by_half.csv, ic_daily.csv, horizons.csv, incremental_ic.csv, cost_line.csv
    out_dir/figures/*.png     cumulative RankIC of every signal, year x signal RankIC heatmap, cost line

Rows whose test period overlaps the official checkpoints' pretraining range are marked with ``*``.
"""
from __future__ import annotations

import base64
import html
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from kronos_quant.research.report_figures import _figure, to_png
from kronos_quant.research.report_headline import format_number, format_percent, json_ready

logger = logging.getLogger(__name__)

PERCENT_COLUMNS = (
    "IC",
    "RankIC",
    "hit_rate",
    "constant_days",
    "tie_days",
    "long_short_ann",
    "topk_excess_without_cost",
    "topk_excess_with_cost",
    "turnover",
    "topk_mdd_with_cost",
)
NUMBER_COLUMNS = ("ICIR", "RankICIR", "RankIC_t_HAC", "long_short_t_HAC", "topk_ir_with_cost")
HEADLINE_NAMES = {
    "IC": "IC",
    "RankIC": "RankIC",
    "ICIR": "ICIR",
    "RankICIR": "RankICIR",
    "RankIC_t_HAC": "RankIC t (NW)",
    "hit_rate": "hit rate",
    "long_short_ann": "L-S top-bottom ann. (no cost)",
    "long_short_t_HAC": "L-S t (NW)",
    "tie_days": "days tied at Top-K cutoff",
    "tied_at_cutoff": "names tied at cutoff",
    "topk_excess_without_cost": "Top-K excess (no cost)",
    "topk_excess_with_cost": "Top-K excess (cost)",
    "topk_ir_with_cost": "Top-K IR (cost)",
    "topk_mdd_with_cost": "Top-K max DD (cost)",
    "turnover": "daily turnover",
    "constant_days": "constant days",
    "suspended_rows_removed": "suspended rows removed",
}
STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1150px}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}img{max-width:100%}"
    ".warn{background:#fff3cd;padding:.5em}"
)


def headline_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Formatted strings: rows = signals, columns = the headline metrics (percentages where fractions)."""
    out = {}
    for column, title in HEADLINE_NAMES.items():
        if column not in summary:
            continue
        formatter = format_percent if column in PERCENT_COLUMNS else format_number
        digits = 0 if column == "suspended_rows_removed" else 2
        out[title] = [formatter(v, digits) for v in summary[column]]
    return pd.DataFrame(out, index=summary.index)


def _table(frame: pd.DataFrame, *, formatter=None) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for index, values in frame.iterrows():
        cells = "".join(f"<td>{html.escape(formatter(v) if formatter else str(v))}</td>" for v in values)
        rows.append(f"<tr><th>{html.escape(str(index))}</th>{cells}</tr>")
    return f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def fig_cumulative_ic(ics: dict, column: str = "RankIC"):
    fig, (ax,) = _figure()
    for name, ic in ics.items():
        ax.plot(ic.index, ic[column].fillna(0.0).cumsum(), label=name, lw=1.2)
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.set_title(f"Cumulative daily {column} (sum)")
    ax.legend(fontsize=8, ncol=4)
    return fig


def fig_heatmap(table: pd.DataFrame, title: str):
    fig, (ax,) = _figure()
    values = table.to_numpy(dtype=float)
    bound = max(float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.01, 1e-6)
    image = ax.imshow(values, cmap="RdYlGn", vmin=-bound, vmax=bound, aspect="auto")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(table.shape[0]), table.index)
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            ax.text(j, i, f"{100 * value:.2f}%", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax)
    ax.set_title(title)
    return fig


def fig_cost_line(table: pd.DataFrame):
    fig, (ax,) = _figure()
    for name in table.columns:
        ax.plot(table.index, table[name], marker="o", label=name)
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.set_xlabel("round-trip cost (bp)")
    ax.set_title("Annualized Top-K excess return vs cost")
    ax.legend(fontsize=8, ncol=4)
    return fig


def _mark(table: pd.DataFrame, periods) -> pd.DataFrame:
    marked = table.copy()
    marked.index = [f"{p} *" if p in periods else str(p) for p in marked.index]
    return marked


def write_study_report(result, out_dir, *, portfolio: dict | None = None) -> Path:
    """Write the page and CSVs (see the module docstring); returns the HTML path."""
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    result.summary.to_csv(out / "headline.csv")
    result.by_year.to_csv(out / "ic_by_year.csv")
    result.by_half.to_csv(out / "ic_by_half.csv")
    pd.concat({name: ic for name, ic in result.ics.items()}, axis=1).to_csv(out / "ic_daily.csv")
    for name, frame in (
        ("horizons", result.horizons),
        ("incremental_ic", result.incremental),
        ("incremental_rank_ic", getattr(result, "incremental_rank", None)),
        ("regimes", getattr(result, "regimes", None)),
        ("cost_line", result.cost_line),
    ):
        if frame is not None:
            frame.to_csv(out / f"{name}.csv")
    for name, report in (portfolio or {}).items():
        report.to_csv(out / f"portfolio_{name}.csv")
    for name, sizes in (getattr(result, "model_sizes", None) or {}).items():
        sizes.to_csv(out / f"model_sizes_{name}.csv")
    figures = {
        "cumulative_rank_ic": ("Cumulative RankIC of every signal", fig_cumulative_ic(result.ics)),
        "rank_ic_heatmap": ("RankIC by year x signal", fig_heatmap(result.by_year, "Mean daily RankIC by year")),
    }
    if result.cost_line is not None:
        figures["cost_line"] = ("Top-K excess return vs round-trip cost", fig_cost_line(result.cost_line))
    images = []
    for stem, (caption, fig) in figures.items():
        png = to_png(fig)
        (out / "figures" / f"{stem}.png").write_bytes(png)
        images.append(
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,'
            f'{base64.b64encode(png).decode()}"><figcaption>{html.escape(caption)}</figcaption></figure>'
        )
    page = _page(result, "".join(images))
    path = out / "study.html"
    path.write_text(page, encoding="utf-8")
    (out / "headline.json").write_text(json.dumps(json_ready(result.summary.to_dict(orient="index")), indent=1))
    logger.info("study report: %s", path)
    return path


def _page(result, images: str) -> str:
    config = result.config
    pct = lambda v: format_percent(v, 2)  # noqa: E731
    parts = [
        f"<h1>Walk-forward alpha study: {html.escape(config.name)}</h1>",
        f"<p>{html.escape(config.market)} on {html.escape(str(config.provider_uri))}; test "
        f"{config.windows.test_start} .. {config.windows.test_end}, roll step {config.windows.roll_step} "
        f"({config.windows.rolling}); {len(result.frame):,} aligned (datetime, instrument) rows, every signal "
        "scored on the same rows. Label: close[t+2]/close[t+1]-1. t-statistics: Newey-West.</p>",
        "<p>Suspensions: a zero-volume bar (a suspended day carried forward as a flat bar) is a suspended day. "
        "A row is not scored when t, t+1 or t+2 is one (the 'suspended rows removed' column counts the rows "
        "each signal lost); the backtests never buy or sell on one; Kronos' windows skip such bars "
        "(kronos_quant.data.windows). Ties: every Top-K backtest and L-S spread breaks ties at the cutoff with "
        f"the same seeded key (seed {config.random_seed}), not by instrument code. L-S: top minus bottom "
        f"{config.backtest.long_short_quantile:.0%} of names.</p>",
    ]
    if result.overlap_periods:
        parts.append(
            f"<p class='warn'>* Official Kronos weights: test periods {list(result.overlap_periods)} overlap "
            f"the pretraining data (up to ~{config.pretrain_cutoff}); Kronos' numbers there may be "
            "in-sample.</p>"
        )
    parts += [
        f"<h2>Headline</h2>{_table(headline_table(result.summary))}",
        images,
        f"<h2>RankIC by year</h2>{_table(_mark(result.by_year, result.overlap_periods), formatter=pct)}",
        f"<h2>RankIC by half-year</h2>{_table(result.by_half, formatter=pct)}",
    ]
    if result.horizons is not None:
        shown = result.horizons[["IC", "RankIC", "IC_t_HAC", "RankIC_t_HAC"]].map(_num)
        shown = shown.join(result.horizons[["days", "label"]].astype(str))
        parts.append(
            "<h2>Kronos IC by forecast horizon</h2><p>The headline Kronos signal is the forecast step "
            "t+1 -> t+2, scored against the headline label. Each cumulative forecast t -> t+k is scored "
            "against the realised return over its own span (close[t+k]/close[t]-1; Newey-West t with at "
            "least k lags) and, for comparison, against the headline label; the label column says "
            f"which.</p>{_table(shown)}"
        )
    if result.incremental is not None:
        stats = incremental_stats(result.incremental)
        parts.append(
            f"<h2>Incremental IC of Kronos</h2><p>Daily OLS residual of Kronos on the other non-random "
            f"signals, then its IC: IC {pct(stats['IC'])} (NW t {_num(stats['IC_t_HAC'])}), RankIC "
            f"{pct(stats['RankIC'])} (NW t {_num(stats['RankIC_t_HAC'])}).</p>"
        )
        ranked = getattr(result, "incremental_rank", None)
        if ranked is not None:
            stats = incremental_stats(ranked)
            parts.append(
                f"<p>Rank on rank (every signal replaced by its daily percentile rank before the "
                f"regression, so ties and outliers carry no extra weight): IC {pct(stats['IC'])} (NW t "
                f"{_num(stats['IC_t_HAC'])}), RankIC {pct(stats['RankIC'])} (NW t "
                f"{_num(stats['RankIC_t_HAC'])}).</p>"
            )
    for name, sizes in (getattr(result, "model_sizes", None) or {}).items():
        parts.append(f"<h3>Model size per window: {html.escape(name)}</h3>{_table(sizes)}")
    regimes = getattr(result, "regimes", None)
    if regimes is not None and not regimes.empty:
        parts.append(_regime_section(regimes, getattr(result, "regime_definitions", {})))
    if result.cost_line is not None:
        parts.append(f"<h2>Cost sensitivity (Top-K excess, annualized)</h2>{_table(result.cost_line, formatter=pct)}")
    body = "".join(parts)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(config.name)}</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )


def _regime_section(regimes: pd.DataFrame, definitions: dict) -> str:
    """Regime definitions, then one table per regime kind: rows = state (days), columns = signal x metric."""
    items = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in definitions.items())
    parts = [
        f"<h2>By market regime</h2><p>Point in time from the benchmark (known at the close of t; a "
        f"Top-K day's excess return counts under the previous day's regime):</p><ul>{items}</ul>"
    ]
    for kind, table in regimes.groupby(level="regime"):
        table = table.droplevel("regime")
        wide = {}
        for (state, signal), row in table.iterrows():
            key = f"{state} ({int(row['days'])} days)"
            wide.setdefault(key, {})
            for metric in ("IC", "RankIC", "topk_excess_ann"):
                if metric in row:
                    wide[key][f"{signal} {metric}"] = format_percent(row[metric], 2)
        parts.append(f"<h3>{html.escape(str(kind))}</h3>{_table(pd.DataFrame(wide).T)}")
    return "".join(parts)


def incremental_stats(daily: pd.DataFrame) -> dict:
    """Mean and Newey-West t of the daily incremental IC and RankIC."""
    from kronos_quant.research.hac import hac_mean

    out = {}
    for column in ("IC", "RankIC"):
        hac = hac_mean(daily[column].to_numpy(), label_horizon=1)
        out[column], out[f"{column}_t_HAC"] = hac.mean, hac.t_stat
    return out


def _num(value) -> str:
    return format_number(value, 4)
