"""Offline HTML report of a stress test, in the style of kronos_quant.research.report_html.

``write_stress_report(results, out_dir, dependence=...)`` writes::

    out_dir/stress_report.html   PNGs embedded as base64, no external assets
    out_dir/figures/*.png        histograms (excess return, IR, max drawdown) and fan charts
    out_dir/summary.json         {strategy: summary}, plus the dependence table
    out_dir/<strategy>_universes.csv   one row of metrics per universe
"""
from __future__ import annotations

import base64
import html
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kronos_quant.io_utils import atomic_write
from kronos_quant.research.report_figures import to_png
from kronos_quant.research.report_html import STYLE, safe_name
from kronos_quant.universes.stress import StressResult

logger = logging.getLogger(__name__)

HISTOGRAMS = (("excess_return", "excess return over the horizon (sum of daily, with cost)"),
              ("information_ratio", "information ratio (annualised, with cost)"),
              ("max_drawdown", "max drawdown of cumulative excess"))


def _figure(n_cols: int = 1) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(3.6 * n_cols, 3.0), dpi=80, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, np.atleast_1d(fig.subplots(1, n_cols, squeeze=False).ravel())


def fig_histograms(result: StressResult) -> Figure:
    """One histogram per metric across universes, the realised value as a red line."""
    fig, axes = _figure(len(HISTOGRAMS))
    for ax, (metric, label) in zip(axes, HISTOGRAMS):
        values = result.metrics[metric].dropna()
        ax.hist(values, bins=min(40, max(10, len(values) // 5)), color="#4878a8", alpha=0.8)
        if result.realised is not None and np.isfinite(result.realised[metric]):
            ax.axvline(result.realised[metric], color="red", lw=2, label="realised")
            ax.legend(fontsize=7)
        ax.axvline(0.0, color="black", lw=0.8)
        ax.set_title(label, fontsize=8)
    fig.suptitle(f"{result.strategy.name}: {len(result.metrics)} universes", fontsize=9)
    return fig


def fig_fan(result: StressResult) -> Figure:
    """Quantile bands (5-95, 25-75, median) of cumulative excess return, with the realised path."""
    fig, (ax,) = _figure(1)
    fig.set_size_inches(8.0, 3.2)
    paths, days = result.cumulative_excess, np.arange(1, result.cumulative_excess.shape[1] + 1)
    q05, q25, q50, q75, q95 = np.quantile(paths, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    ax.fill_between(days, q05, q95, color="#4878a8", alpha=0.2, label="5-95%")
    ax.fill_between(days, q25, q75, color="#4878a8", alpha=0.4, label="25-75%")
    ax.plot(days, q50, color="#1f3f66", lw=1.5, label="median")
    if result.realised is not None:
        ax.plot(days, result.realised["cumulative_excess"], color="red", lw=2, label="realised")
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xlabel(f"trading days after t0 ({result.dates[0]:%Y-%m-%d} .. {result.dates[-1]:%Y-%m-%d})")
    ax.set_ylabel("cumulative excess return")
    ax.set_title(f"{result.strategy.name}: cumulative excess return across universes", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    return fig


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for index, row in frame.iterrows():
        cells = "".join(f"<td>{_fmt(v)}</td>" for v in row)
        rows.append(f"<tr><th>{html.escape(str(index))}</th>{cells}</tr>")
    return f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def _fmt(value) -> str:
    if isinstance(value, (int, float, np.floating)):
        return "nan" if not np.isfinite(value) else f"{value:.4g}"
    return html.escape(str(value))


def _image(png: bytes, caption: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def write_stress_report(results: list[StressResult], out_dir, *, title: str = "Stress test",
                        dependence: pd.DataFrame | None = None, notes: dict | None = None) -> Path:
    """Write the report; returns the HTML path. ``dependence``: rows (history, correlated, independent)."""
    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    sections, summaries = [], {}
    for result in results:
        name = safe_name(result.strategy.name)
        summaries[result.strategy.name] = result.summary()
        result.metrics.to_csv(out_dir / f"{name}_universes.csv", index_label="universe")
        figures = {"hist": fig_histograms(result), "fan": fig_fan(result)}
        images = []
        for key, fig in figures.items():
            png = to_png(fig)
            (out_dir / "figures" / f"{name}_{key}.png").write_bytes(png)
            images.append(_image(png, f"{result.strategy.name} {key}"))
        summary = pd.Series(summaries[result.strategy.name]).to_frame("value")
        sections.append(f"<h2>{html.escape(result.strategy.name)}</h2>"
                        f"<p>signal {html.escape(result.strategy.signal)}, {html.escape(result.strategy.kind)}, "
                        f"top {result.strategy.topk}</p>{''.join(images)}{_table(summary)}")
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if notes:
        parts.append(_table(pd.Series(notes, dtype=object).to_frame("setting")))
    if dependence is not None:
        parts.append("<h2>Dependence validation (lookback history vs generated)</h2>" + _table(dependence))
    body = "".join(parts + sections)
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>")
    path = out_dir / "stress_report.html"
    atomic_write(path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    payload = {"strategies": summaries, "notes": notes or {},
               "dependence": None if dependence is None else dependence.to_dict(orient="index")}
    text = json.dumps(_json_ready(payload), indent=2)
    atomic_write(out_dir / "summary.json", lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    logger.info("stress report written to %s", path)
    return path


def _json_ready(value):
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
